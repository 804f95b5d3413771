/* 16x8 kernels (int16 activations with zero point 0, int8 weights, int64 bias): TFLM's reference_integer_ops
 * ConvPerChannel, DepthwiseConvPerChannel, FullyConnected (64-bit accumulators, the 64-bit
 * MultiplyByQuantizedMultiplier), AveragePool, MaxPool, the reduce and
 * quantize kernels, each on int16. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

static inline int16_t sat16(int32_t v, int32_t lo, int32_t hi) {
    return (int16_t)(v < lo ? lo : v > hi ? hi : v);
}

void tml_conv_s16(const tml_conv_params *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                  int16_t *output) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                int16_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->out_c,
                                                                p->out_row_stride, p->out_px_stride);
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t ic0 = (oc / per_group) * p->filter_in_c;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + p->dil_h * ky;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + p->dil_w * kx;
                            const int16_t *in_px;
                            const int8_t *w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            in_px = input + (((size_t)b * (size_t)p->in_h + (size_t)iy) * (size_t)p->in_w +
                                             (size_t)ix) * (size_t)p->in_c + (size_t)ic0;
                            w = filter + (((size_t)oc * (size_t)p->k_h + (size_t)ky) * (size_t)p->k_w +
                                          (size_t)kx) * (size_t)p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ic++) acc += (int32_t)w[ic] * (int32_t)in_px[ic];
                        }
                    }
                    if (bias) acc += bias[oc];
                    out_px[oc] = sat16(tml_mbqm64(acc, p->multiplier[oc], p->shift[oc]), p->act_min, p->act_max);
                }
            }
        }
    }
}

void tml_depthwise_conv_s16(const tml_conv_params *p, const int16_t *input, const int8_t *filter,
                            const int64_t *bias, int16_t *output) {
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                int16_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->out_c,
                                                                p->out_row_stride, p->out_px_stride);
                for (ic = 0; ic < p->in_c; ic++) {
                    for (m = 0; m < p->depth_multiplier; m++) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int64_t acc = 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = oy * p->stride_h - p->pad_h + p->dil_h * ky;
                            if (iy < 0 || iy >= p->in_h) continue;
                            for (kx = 0; kx < p->k_w; kx++) {
                                const int32_t ix = ox * p->stride_w - p->pad_w + p->dil_w * kx;
                                if (ix < 0 || ix >= p->in_w) continue;
                                acc += (int32_t)filter[((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)p->out_c +
                                                       (size_t)oc] *
                                       (int32_t)input[(((size_t)b * (size_t)p->in_h + (size_t)iy) * (size_t)p->in_w +
                                                       (size_t)ix) * (size_t)p->in_c + (size_t)ic];
                            }
                        }
                        if (bias) acc += bias[oc];
                        out_px[oc] = sat16(tml_mbqm64(acc, p->multiplier[oc], p->shift[oc]), p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void tml_fully_connected_s16(const tml_fc_params *p, const int16_t *input, const int8_t *filter,
                             const int64_t *bias, int16_t *output) {
    int32_t b, oc, d;
    for (b = 0; b < p->batches; b++) {
        for (oc = 0; oc < p->out_c; oc++) {
            const int8_t *w = filter + (size_t)oc * (size_t)p->accum_depth;
            const int16_t *x = input + (size_t)b * (size_t)p->accum_depth;
            const int32_t ch = p->per_channel ? oc : 0;
            int64_t acc = 0;
            for (d = 0; d < p->accum_depth; d++) acc += ((int32_t)w[d] + p->filter_offset) * (int32_t)x[d];
            if (bias) acc += bias[oc];
            output[(size_t)b * (size_t)p->out_c + (size_t)oc] =
                sat16(tml_mbqm64(acc, p->multiplier[ch], p->shift[ch]) + p->output_offset, p->act_min, p->act_max);
        }
    }
}

void tml_pad_s16(const tml_pad_params *p, const int16_t *input, int16_t *output) {
    const int32_t *id = p->in_dims, *od = p->out_dims, *bf = p->before;
    int32_t o0, o1, o2, o3;
    size_t o = 0;
    for (o0 = 0; o0 < od[0]; o0++) {
        for (o1 = 0; o1 < od[1]; o1++) {
            for (o2 = 0; o2 < od[2]; o2++) {
                for (o3 = 0; o3 < od[3]; o3++) {
                    const int32_t i0 = o0 - bf[0], i1 = o1 - bf[1], i2 = o2 - bf[2], i3 = o3 - bf[3];
                    const int inside = i0 >= 0 && i0 < id[0] && i1 >= 0 && i1 < id[1] && i2 >= 0 && i2 < id[2] &&
                                       i3 >= 0 && i3 < id[3];
                    output[o++] = inside ? input[(((size_t)i0 * (size_t)id[1] + (size_t)i1) * (size_t)id[2] +
                                                  (size_t)i2) * (size_t)id[3] + (size_t)i3]
                                         : (int16_t)p->pad_value;
                }
            }
        }
    }
}

/* One pooling loop for both: `is_max` is a constant per entry point. */
static inline void pool_s16(const tml_pool_params *p, const int16_t *input, int16_t *output, const int is_max) {
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = tml_max_i32(0, -iy0), fy1 = tml_min_i32(p->filter_h, p->in_h - iy0);
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = tml_max_i32(0, -ix0), fx1 = tml_min_i32(p->filter_w, p->in_w - ix0);
                int16_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->channels,
                                                                p->out_row_stride, p->out_px_stride);
                for (c = 0; c < p->channels; c++) {
                    int32_t acc = is_max ? -32768 : 0, count = 0;
                    for (fy = fy0; fy < fy1; fy++) {
                        for (fx = fx0; fx < fx1; fx++) {
                            const int32_t v = input[(((size_t)b * (size_t)p->in_h + (size_t)(iy0 + fy)) *
                                                         (size_t)p->in_w + (size_t)(ix0 + fx)) * (size_t)p->channels +
                                                        (size_t)c];
                            if (is_max) {
                                acc = tml_max_i32(acc, v);
                            } else {
                                acc += v;
                            }
                            count++;
                        }
                    }
                    if (!is_max && count > 0) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    out_px[c] = sat16(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tml_avgpool_s16(const tml_pool_params *p, const int16_t *input, int16_t *output) { pool_s16(p, input, output, 0); }

void tml_maxpool_s16(const tml_pool_params *p, const int16_t *input, int16_t *output) { pool_s16(p, input, output, 1); }

void tml_mean_s16(const tml_mean_params *p, const int16_t *input, int16_t *output) {
    const int32_t *d = p->in_dims;
    int32_t e[4], o[4], r[4], k;
    size_t out_i = 0;
    for (k = 0; k < 4; k++) e[k] = p->reduce[k] ? 1 : d[k];
    for (o[0] = 0; o[0] < e[0]; o[0]++)
    for (o[1] = 0; o[1] < e[1]; o[1]++)
    for (o[2] = 0; o[2] < e[2]; o[2]++)
    for (o[3] = 0; o[3] < e[3]; o[3]++) {
        int32_t sum = 0, out;
        for (r[0] = 0; r[0] < (p->reduce[0] ? d[0] : 1); r[0]++)
        for (r[1] = 0; r[1] < (p->reduce[1] ? d[1] : 1); r[1]++)
        for (r[2] = 0; r[2] < (p->reduce[2] ? d[2] : 1); r[2]++)
        for (r[3] = 0; r[3] < (p->reduce[3] ? d[3] : 1); r[3]++) {
            sum += input[(((size_t)(o[0] + r[0]) * (size_t)d[1] + (size_t)(o[1] + r[1])) * (size_t)d[2] +
                          (size_t)(o[2] + r[2])) * (size_t)d[3] + (size_t)(o[3] + r[3])];
        }
        if (p->same_quant) {
            out = p->num_elements > 0 ? sum / p->num_elements : 0;
        } else {
            out = tml_mbqm(tml_wrap32((int64_t)sum - (int64_t)p->input_zp * p->num_elements), p->multiplier, p->shift) +
                  p->output_zp;
        }
        output[out_i++] = sat16(out, -32768, 32767);
    }
}

void tml_quantize_f32_s16(const tml_quantize_params *p, const float *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = sat16(tml_quantize_f32(input[i], p->scale, p->zero_point), -32768, 32767);
}

void tml_dequantize_s16_f32(const tml_dequantize_params *p, const int16_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (float)(p->scale * (double)((int32_t)input[i] - p->zero_point));
}

/* TFLite generic_int16_table_lookup: 512 base values, linear interpolation on the low 7 bits. */
static inline int32_t lut16(int32_t value, const int16_t *lut) {
    const int32_t index = 256 + (value >> 7), offset = value & 0x7f;
    const int32_t base = lut[index], slope = (int32_t)lut[index + 1] - base;
    return base + ((slope * offset + 64) >> 7);
}

void tml_softmax_s16(const tml_softmax_s16_params *p, const int16_t *input, int16_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; r++) {
        const int16_t *x = input + (size_t)r * (size_t)p->depth;
        int16_t *y = output + (size_t)r * (size_t)p->depth;
        int32_t max_in_row = -32768, sum = 0, shifted, recip;
        int headroom_plus_one, right_shift;
        for (c = 0; c < p->depth; c++) max_in_row = tml_max_i32(max_in_row, x[c]);
        for (c = 0; c < p->depth; c++) { /* exp(x - max), Q0.15, parked in the output row */
            const int32_t scaled = tml_mbqm((int32_t)x[c] - max_in_row, p->input_multiplier, p->input_left_shift);
            y[c] = (int16_t)lut16(sat16(scaled + 32767, -32768, 32767), p->exp_lut);
            sum += y[c];
        }
        headroom_plus_one = tml_clz32((uint32_t)sum);
        shifted = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        recip = lut16(sat16(shifted - 98304, -32768, 32767), p->recip_lut); /* x = sum - 1, centred */
        right_shift = 31 - headroom_plus_one;
        for (c = 0; c < p->depth; c++) {
            const int32_t v = (int32_t)(((int64_t)y[c] * recip + ((int64_t)1 << (right_shift - 1))) >> right_shift);
            y[c] = sat16(v, 0, 32767);
        }
    }
}

/* QUANTIZE between int8 and int16 (TFLM's Requantize): (x - input zero point) times the scale ratio
 * (MultiplyByQuantizedMultiplier), plus the output zero point, saturated to the output type. */
static int32_t tml_requant_one(const tml_requantize_params *p, int32_t x) {
    const int32_t v = p->output_zp + tml_mbqm(x - p->input_zp, p->multiplier, p->shift);
    return v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v;
}

void tml_requantize_s8_s16(const tml_requantize_params *p, const int8_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (int16_t)tml_requant_one(p, input[i]);
}

void tml_requantize_s16_s8(const tml_requantize_params *p, const int16_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (int8_t)tml_requant_one(p, input[i]);
}

void tml_requantize_s16(const tml_requantize_params *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (int16_t)tml_requant_one(p, input[i]);
}

/* |x| rescaled so that `frac` bits below the table index remain; the table interpolated between its nodes */
void tml_logistic_s16(const tml_sigmoid16_params *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++)
        output[i] = tml_logistic16_value(p->table, p->input_multiplier, p->input_left_shift, input[i]);
}

void tml_tanh_s16(const tml_sigmoid16_params *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++)
        output[i] = tml_tanh16_value(p->table, p->input_multiplier, p->input_left_shift, input[i]);
}
