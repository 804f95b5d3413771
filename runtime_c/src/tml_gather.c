/* GATHER, any element type (batch_dims 0): TFLM gather.cc, bytes only. */
#include <string.h>

#include "tml_nn.h"

void tml_gather(const tml_gather_params *p, const void *input, const int32_t *indices, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output;
    const size_t inner = (size_t)p->inner_bytes;
    int32_t o, i;
    for (o = 0; o < p->outer; o++) {
        const unsigned char *block = src + (size_t)o * (size_t)p->axis * inner;
        for (i = 0; i < p->count; i++) {
            const int32_t k = indices[i];
            if (k >= 0 && k < p->axis) {
                memcpy(dst, block + (size_t)k * inner, inner);
            } else {
                memset(dst, 0, inner);
            }
            dst += inner;
        }
    }
}
