/* STRIDED_SLICE (and SLICE), any element type: TFLM reference_ops::StridedSlice (a gather, no arithmetic). */
#include <string.h>

#include "tml_nn.h"

void tml_strided_slice(const tml_strided_slice_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output;
    const int32_t *id = p->in_dims, *od = p->out_dims, *b = p->begin, *s = p->stride;
    const size_t es = (size_t)p->esize;
    int32_t o0, o1, o2, o3;
    for (o0 = 0; o0 < od[0]; o0++) {
        const size_t i0 = (size_t)(b[0] + o0 * s[0]);
        for (o1 = 0; o1 < od[1]; o1++) {
            const size_t i1 = i0 * (size_t)id[1] + (size_t)(b[1] + o1 * s[1]);
            for (o2 = 0; o2 < od[2]; o2++) {
                const size_t i2 = i1 * (size_t)id[2] + (size_t)(b[2] + o2 * s[2]);
                for (o3 = 0; o3 < od[3]; o3++) {
                    const size_t i3 = i2 * (size_t)id[3] + (size_t)(b[3] + o3 * s[3]);
                    memcpy(dst, src + i3 * es, es);
                    dst += es;
                }
            }
        }
    }
}
