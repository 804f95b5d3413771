/* DEPTHWISE_CONV_2D, int8 activations, int8 or packed int4 weights: TFLM reference_integer_ops::DepthwiseConvPerChannel. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

static inline void depthwise_body(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                                  const int32_t *bias, int8_t *output, const int bits) {
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->out_c,
                                                               p->out_row_stride, p->out_px_stride);
                for (ic = 0; ic < p->in_c; ic++) {
                    for (m = 0; m < p->depth_multiplier; m++) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            if (iy < 0 || iy >= p->in_h) continue;
                            for (kx = 0; kx < p->k_w; kx++) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                int32_t xv;
                                if (ix < 0 || ix >= p->in_w) continue;
                                xv = input[(((size_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic];
                                acc += tml_weight(filter, ((size_t)ky * p->k_w + kx) * p->out_c + (size_t)oc, bits) *
                                       (xv + p->input_offset);
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
}

void tml_depthwise_conv_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output) {
    depthwise_body(p, input, filter, bias, output, 8);
}

void tml_depthwise_conv_s4(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output) {
    depthwise_body(p, input, filter, bias, output, 4);
}
