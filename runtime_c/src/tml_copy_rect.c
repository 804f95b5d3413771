/* Gather a rectangle: `rows` rows of `row_bytes` bytes, `src_stride` bytes apart starting `src_offset` bytes into
 * the input, into a contiguous output. Fetches one patch's input region from a streamed model input. */
#include <string.h>

#include "tml_nn.h"

void tml_copy_rect(const tml_copy_rect_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input + p->src_offset;
    unsigned char *dst = (unsigned char *)output;
    int32_t i;
    for (i = 0; i < p->rows; i++) {
        memcpy(dst + (size_t)i * p->row_bytes, src + (size_t)i * p->src_stride, (size_t)p->row_bytes);
    }
}
