/* RESIZE_BILINEAR, int8: TFLM reference_ops::ResizeBilinearInteger. The source rows, columns and their 10-bit
 * weights (ComputeInterpolationValuesInteger) are computed at generation time. The four products sum to at most
 * 128 * (1024 + 2 * 512)^2 in magnitude, so int32 holds them; the sum is rounded half away from zero at 2^20. */
#include "tml_nn.h"

void tml_resize_bilinear_s8(const tml_resize_bilinear_params *p, const int8_t *input, int8_t *output) {
    const size_t ch = (size_t)p->channels, row = (size_t)p->in_w * ch, image = (size_t)p->in_h * row;
    int32_t b, y, x;
    size_t c;
    for (b = 0; b < p->batches; b++) {
        const int8_t *img = input + (size_t)b * image;
        for (y = 0; y < p->out_h; y++) {
            const int8_t *r0 = img + (size_t)p->y0[y] * row, *r1 = img + (size_t)p->y1[y] * row;
            const int32_t dy = p->wy[y];
            for (x = 0; x < p->out_w; x++) {
                const int32_t dx = p->wx[x];
                const int32_t w00 = (1024 - dy) * (1024 - dx), w10 = dy * (1024 - dx);
                const int32_t w01 = (1024 - dy) * dx, w11 = dy * dx;
                const size_t c0 = (size_t)p->x0[x] * ch, c1 = (size_t)p->x1[x] * ch;
                for (c = 0; c < ch; c++) {
                    const int32_t v = (int32_t)r0[c0 + c] * w00 + (int32_t)r1[c0 + c] * w10 +
                                      (int32_t)r0[c1 + c] * w01 + (int32_t)r1[c1 + c] * w11;
                    *output++ = (int8_t)((v + (v > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                }
            }
        }
    }
}
