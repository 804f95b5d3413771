/* MAXIMUM and MINIMUM, int8, with 4-D broadcasting: TFLM reference_ops::MaximumMinimumBroadcastSlow (the stored
 * int8 values are compared; the converter gives both operands and the output one quantization). */
#include "tml_nn.h"

static void max_min(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output, int is_min) {
    int32_t i0, i1, i2, i3;
    size_t o = 0;
    for (i0 = 0; i0 < p->d0; i0++) {
        for (i1 = 0; i1 < p->d1; i1++) {
            for (i2 = 0; i2 < p->d2; i2++) {
                for (i3 = 0; i3 < p->d3; i3++) {
                    const size_t ia = tml_broadcast_at(p->a_stride, i0, i1, i2, i3);
                    const size_t ib = tml_broadcast_at(p->b_stride, i0, i1, i2, i3);
                    const int8_t x = a[ia], y = b[ib];
                    output[o++] = is_min ? (x < y ? x : y) : (x > y ? x : y);
                }
            }
        }
    }
}

void tml_maximum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    max_min(p, a, b, output, 0);
}

void tml_minimum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    max_min(p, a, b, output, 1);
}
