/* TRANSPOSE_CONV, int8: TFLM reference_integer_ops::TransposeConv. TFLM adds (input + input_offset) * weight
 * into out[(in_y * stride - pad + ky, in_x * stride - pad + kx)] for every input pixel and tap; here each output
 * pixel sums the taps that reach it (ky such that oy + pad - ky is a non-negative multiple of the stride inside
 * the input), the same integer sum in another order, then bias, requantization and clamp as in TFLM. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_transpose_conv_s8(const tml_transpose_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output) {
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                for (oc = 0; oc < p->out_c; oc++) {
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t ty = oy + p->pad_h - ky;
                        int32_t iy;
                        if (ty < 0 || ty % p->stride_h != 0) continue;
                        iy = ty / p->stride_h;
                        if (iy >= p->in_h) continue;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t tx = ox + p->pad_w - kx;
                            const int8_t *in_px, *w;
                            int32_t ix;
                            if (tx < 0 || tx % p->stride_w != 0) continue;
                            ix = tx / p->stride_w;
                            if (ix >= p->in_w) continue;
                            in_px = input + (((size_t)b * (size_t)p->in_h + (size_t)iy) * (size_t)p->in_w +
                                             (size_t)ix) * (size_t)p->in_c;
                            w = filter + (((size_t)oc * (size_t)p->k_h + (size_t)ky) * (size_t)p->k_w +
                                          (size_t)kx) * (size_t)p->in_c;
                            for (ic = 0; ic < p->in_c; ic++) {
                                acc += ((int32_t)in_px[ic] + p->input_offset) * (int32_t)w[ic];
                            }
                        }
                    }
                    if (bias) acc += bias[oc];
                    acc = tml_mbqm(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    *output++ = tml_sat_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
