/* TRANSPOSE, SPACE_TO_DEPTH and DEPTH_TO_SPACE, any element type: a gather through six (dimension, stride) pairs
 * (TFLM reference_ops::Transpose / SpaceToDepth / DepthToSpace move the same bytes). */
#include <string.h>

#include "tml_nn.h"

void tml_permute(const tml_permute_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output;
    const int32_t *d = p->out_dims, *s = p->in_stride;
    const size_t es = (size_t)p->esize;
    int32_t o0, o1, o2, o3, o4, o5;
    for (o0 = 0; o0 < d[0]; o0++) {
        for (o1 = 0; o1 < d[1]; o1++) {
            for (o2 = 0; o2 < d[2]; o2++) {
                for (o3 = 0; o3 < d[3]; o3++) {
                    for (o4 = 0; o4 < d[4]; o4++) {
                        const size_t base = (size_t)o0 * (size_t)s[0] + (size_t)o1 * (size_t)s[1] +
                                            (size_t)o2 * (size_t)s[2] + (size_t)o3 * (size_t)s[3] +
                                            (size_t)o4 * (size_t)s[4];
                        if (s[5] == 1) {  /* a contiguous innermost run */
                            memcpy(dst, src + base * es, (size_t)d[5] * es);
                            dst += (size_t)d[5] * es;
                        } else {
                            for (o5 = 0; o5 < d[5]; o5++) {
                                memcpy(dst, src + (base + (size_t)o5 * (size_t)s[5]) * es, es);
                                dst += es;
                            }
                        }
                    }
                }
            }
        }
    }
}
