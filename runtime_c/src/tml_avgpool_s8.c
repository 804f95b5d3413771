/* AVERAGE_POOL_2D, int8: TFLM reference_integer_ops::AveragePool (rounded integer division). The channel sums
 * below also serve MEAN, band by band (see tml_nn.h). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* TFLM's rounded division of a window sum by its tap count. */
static inline int32_t avg_round(int32_t acc, int32_t count) {
    if (count <= 0) return acc;
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

void tml_avgpool_s8(const tml_pool_params *p, const int8_t *input, int8_t *output) {
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = tml_max_i32(0, -iy0), fy1 = tml_min_i32(p->filter_h, p->in_h - iy0);
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *const out_px = output + tml_out_pixel(b, oy, ox, p->out_h, p->out_w, p->channels,
                                                               p->out_row_stride, p->out_px_stride);
                const int32_t fx0 = tml_max_i32(0, -ix0), fx1 = tml_min_i32(p->filter_w, p->in_w - ix0);
                for (c = 0; c < p->channels; c++) {
                    int32_t acc = 0, count = 0;
                    for (fy = fy0; fy < fy1; fy++) {
                        for (fx = fx0; fx < fx1; fx++) {
                            acc += input[(((size_t)b * p->in_h + iy0 + fy) * p->in_w + ix0 + fx) * p->channels + c];
                            count++;
                        }
                    }
                    out_px[c] = tml_sat_s8(avg_round(acc, count), p->act_min, p->act_max);
                }
            }
        }
    }
}

void tml_channel_sum_acc_s8(const tml_accumulate_params *p, const int8_t *input, int32_t *acc) {
    /* channel by channel, the sum in a register (integer addition: any order gives the same int32) */
    const int32_t n = p->count, stride = p->out_c;
    int32_t c;
    for (c = 0; c < stride; c++) {
        const int8_t *x = input + c;
        int32_t s = p->first ? 0 : acc[c], px = 0;
        for (; px + 1 < n; px += 2, x += 2 * stride) s += (int32_t)x[0] + x[stride];
        if (px < n) s += *x;
        acc[c] = s;
    }
}

void tml_avgpool_finish_s8(const tml_pool_params *p, const int32_t *acc, int8_t *output) {
    const int32_t count = tml_min_i32(p->filter_h, p->in_h) * tml_min_i32(p->filter_w, p->in_w);
    int32_t c;
    for (c = 0; c < p->channels; c++) output[c] = tml_sat_s8(avg_round(acc[c], count), p->act_min, p->act_max);
}
