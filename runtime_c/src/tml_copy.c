/* Strided block copy: one input of CONCATENATION, and the row windows of patch stages (any element type). */
#include <stdint.h>
#include <string.h>

#include "tml_nn.h"
#include "tml_simd.h"

/* Where the destination lies at or below the source, or apart from it, tml_copy_down moves the block forward
 * eight bytes per step (each step reads before it writes, and what it writes lies below everything later steps
 * read; newlib-nano's memmove copies byte by byte): the row windows of patch stages move whole rows down this way. */
void tml_copy(const tml_copy_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output + p->dst_offset;
    const size_t n = (size_t)p->block;
    int32_t i;
    for (i = 0; i < p->outer; i++) {
        unsigned char *const d = dst + (size_t)i * p->dst_stride;
        const unsigned char *const s = src + (size_t)i * p->block;
        if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n) {
            tml_copy_down(d, s, n);
        } else {
            memmove(d, s, n);
        }
    }
}
