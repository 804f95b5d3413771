/* SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND on NHWC tensors of any element type (`pixel` bytes per pixel): TFLM
 * reference_ops::SpaceToBatchND / BatchToSpaceND. Output batch (by * block_w + bx) * in_b + n holds the pixels
 * of input batch n at rows y * block_h + by and columns x * block_w + bx of the input padded by pad_top/pad_left
 * (pad_value where it falls outside); BATCH_TO_SPACE_ND is its inverse with the crops as pad_top/pad_left. */
#include <string.h>

#include "tml_nn.h"

void tml_space_to_batch(const tml_space_batch_params *p, const void *input, void *output) {
    const unsigned char *in = (const unsigned char *)input;
    unsigned char *out = (unsigned char *)output;
    const size_t px = (size_t)p->pixel;
    int32_t b, y, x;
    for (b = 0; b < p->out_b; b++) {
        const int32_t n = b % p->in_b, shift_w = (b / p->in_b) % p->block_w, shift_h = (b / p->in_b) / p->block_w;
        for (y = 0; y < p->out_h; y++) {
            const int32_t iy = y * p->block_h + shift_h - p->pad_top;
            for (x = 0; x < p->out_w; x++, out += px) {
                const int32_t ix = x * p->block_w + shift_w - p->pad_left;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                    memset(out, p->pad_value, px);
                else
                    memcpy(out, in + (((size_t)n * (size_t)p->in_h + (size_t)iy) * (size_t)p->in_w + (size_t)ix) * px,
                           px);
            }
        }
    }
}

void tml_batch_to_space(const tml_space_batch_params *p, const void *input, void *output) {
    const unsigned char *in = (const unsigned char *)input;
    unsigned char *out = (unsigned char *)output;
    const size_t px = (size_t)p->pixel;
    int32_t b, y, x;
    for (b = 0; b < p->in_b; b++) {
        const int32_t n = b % p->out_b, offset = b / p->out_b;
        for (y = 0; y < p->in_h; y++) {
            const int32_t oy = y * p->block_h + offset / p->block_w - p->pad_top;
            if (oy < 0 || oy >= p->out_h) continue;
            for (x = 0; x < p->in_w; x++) {
                const int32_t ox = x * p->block_w + offset % p->block_w - p->pad_left;
                if (ox < 0 || ox >= p->out_w) continue;
                memcpy(out + (((size_t)n * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) * px,
                       in + (((size_t)b * (size_t)p->in_h + (size_t)y) * (size_t)p->in_w + (size_t)x) * px, px);
            }
        }
    }
}
