/* Strided block copy: one input of CONCATENATION (any element type). */
#include <string.h>

#include "tml_nn.h"

void tml_copy(const tml_copy_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output + p->dst_offset;
    int32_t i;
    for (i = 0; i < p->outer; i++) {
        memmove(dst + (size_t)i * p->dst_stride, src + (size_t)i * p->block, (size_t)p->block);
    }
}
