/* DEPTHWISE_CONV_2D, int8, depth multiplier 1, computed in place (TinyEngine's technique): the output
 * overwrites the input buffer channel by channel. Channel c of the input is first copied into `plane`
 * (in_h * in_w bytes); its outputs then go to the positions of channel c only, which no other channel reads.
 * Bit-identical to tml_depthwise_conv_s8. Requires input == output (the same buffer), batches == 1. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

size_t tml_depthwise_conv_inplace_s8_get_buffer_size(const tml_conv_params *p) {
    return (size_t)p->in_h * (size_t)p->in_w;
}

void tml_depthwise_conv_inplace_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, int8_t *plane, int8_t *output) {
    const size_t hw = (size_t)p->in_h * (size_t)p->in_w;
    int32_t c, oy, ox, ky, kx;
    size_t i;
    for (c = 0; c < p->in_c; c++) {
        for (i = 0; i < hw; i++) plane[i] = input[i * (size_t)p->in_c + (size_t)c];
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t acc = 0;
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + p->dil_h * ky;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + p->dil_w * kx;
                        if (ix < 0 || ix >= p->in_w) continue;
                        acc += (int32_t)filter[((size_t)ky * p->k_w + kx) * p->out_c + c] *
                               ((int32_t)plane[(size_t)iy * p->in_w + ix] + p->input_offset);
                    }
                }
                if (bias) acc += bias[c];
                acc = tml_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
                output[((size_t)oy * p->out_w + ox) * p->out_c + c] = tml_sat_s8(acc, p->act_min, p->act_max);
            }
        }
    }
}
