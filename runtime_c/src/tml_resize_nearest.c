/* RESIZE_NEAREST_NEIGHBOR, any element type: TFLM reference_ops::ResizeNearestNeighbor, with the source rows and
 * columns (GetNearestNeighbor, float32) computed at generation time into y_index and x_index. */
#include <string.h>

#include "tml_nn.h"

void tml_resize_nearest(const tml_resize_nearest_params *p, const void *input, void *output) {
    const unsigned char *src = (const unsigned char *)input;
    unsigned char *dst = (unsigned char *)output;
    const size_t px = (size_t)p->pixel, row = (size_t)p->in_w * px, image = (size_t)p->in_h * row;
    int32_t b, y, x;
    for (b = 0; b < p->batches; b++) {
        const unsigned char *img = src + (size_t)b * image;
        for (y = 0; y < p->out_h; y++) {
            const unsigned char *r = img + (size_t)p->y_index[y] * row;
            for (x = 0; x < p->out_w; x++) {
                memcpy(dst, r + (size_t)p->x_index[x] * px, px);
                dst += px;
            }
        }
    }
}
