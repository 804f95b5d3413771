/* CONV_2D, int8 activations, int8 or packed int4 per-channel weights, int32 bias: TFLM
 * reference_integer_ops::ConvPerChannel (TFLM unpacks int4 weights to int8 first; the sums are the same). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* One body for both weight widths: `bits` is a constant at each call site, so each entry point compiles to its
 * own loop without a per-weight branch. */
static inline void conv_body(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, int8_t *output, const int bits) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->out_c,
                                                               p->out_row_stride, p->out_px_stride);
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t ic0 = (oc / per_group) * p->filter_in_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ix0 + p->dil_w * kx;
                            const int8_t *in_px;
                            size_t f0;
                            if (ix < 0 || ix >= p->in_w) continue;
                            in_px = input + (((size_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic0;
                            f0 = (((size_t)oc * p->k_h + ky) * p->k_w + kx) * p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ic++) {
                                acc += tml_weight(filter, f0 + (size_t)ic, bits) *
                                       ((int32_t)in_px[ic] + p->input_offset);
                            }
                        }
                    }
                    if (bias) acc += bias[oc];
                    acc = tml_mbqm(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    out_px[oc] = tml_sat_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tml_conv_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                 int8_t *output) {
    conv_body(p, input, filter, bias, output, 8);
}

void tml_conv_s4(const tml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                 int8_t *output) {
    conv_body(p, input, filter, bias, output, 4);
}
