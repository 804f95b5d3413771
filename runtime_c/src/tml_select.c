/* SELECT_V2, any element type: output element o of the 4-D output [d0, d1, d2, d3] is x's element where the
 * condition (bool, one byte) is non-zero, else y's, each operand read through its own strides (0 where it is
 * broadcast): TFLM reference_ops::BroadcastSelect5DSlow (values are copied, never requantized). */
#include <string.h>

#include "tml_nn.h"

void tml_select(const tml_select_params *p, const uint8_t *cond, const void *x, const void *y, void *output) {
    const unsigned char *px = (const unsigned char *)x, *py = (const unsigned char *)y;
    unsigned char *out = (unsigned char *)output;
    const size_t e = (size_t)p->esize;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->d[0]; i0++)
        for (i1 = 0; i1 < p->d[1]; i1++)
            for (i2 = 0; i2 < p->d[2]; i2++)
                for (i3 = 0; i3 < p->d[3]; i3++) {
                    const size_t c = (size_t)i0 * (size_t)p->c_stride[0] + (size_t)i1 * (size_t)p->c_stride[1] +
                                     (size_t)i2 * (size_t)p->c_stride[2] + (size_t)i3 * (size_t)p->c_stride[3];
                    const int32_t *s = cond[c] ? p->x_stride : p->y_stride;
                    const size_t at = (size_t)i0 * (size_t)s[0] + (size_t)i1 * (size_t)s[1] +
                                      (size_t)i2 * (size_t)s[2] + (size_t)i3 * (size_t)s[3];
                    memcpy(out, (cond[c] ? px : py) + at * e, e);
                    out += e;
                }
}
