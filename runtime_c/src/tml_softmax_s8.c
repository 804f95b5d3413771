/* SOFTMAX, int8 in, int8 or int16 out: TFLM reference_ops::Softmax (gemmlowp fixed-point exp and reciprocal),
 * templated there on the output type; here one body for both, the output's width and minimum its parameters. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

#define TML_SOFTMAX_S8_BODY(OUT_T, OUT_BITS, OUT_MIN, SAT)                                                  \
    int32_t row, c;                                                                                              \
    for (row = 0; row < p->rows; row++) {                                                                        \
        const int8_t *x = input + (size_t)row * p->depth;                                                        \
        OUT_T *y = output + (size_t)row * p->depth;                                                              \
        int32_t max_in_row = -128, sum_of_exps = 0, shifted_scale, num_bits_over_unit, shifted_sum_minus_one;    \
        int headroom_plus_one;                                                                                   \
        for (c = 0; c < p->depth; c++) max_in_row = tml_max_i32(max_in_row, x[c]);                               \
        for (c = 0; c < p->depth; c++) {                                                                         \
            const int32_t diff = (int32_t)x[c] - max_in_row;                                                     \
            if (diff >= p->diff_min) {                                                                           \
                const int32_t scaled = tml_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);             \
                sum_of_exps = tml_add_wrap(sum_of_exps, tml_rdbp(tml_exp_on_negative_values(scaled, 5), 12));   \
            }                                                                                                    \
        }                                                                                                        \
        headroom_plus_one = tml_clz32((uint32_t)sum_of_exps);                                                    \
        num_bits_over_unit = 12 - headroom_plus_one;                                                             \
        shifted_sum_minus_one =                                                                                  \
            tml_wrap32((int64_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));           \
        shifted_scale = tml_one_over_one_plus_x(shifted_sum_minus_one);                                          \
        for (c = 0; c < p->depth; c++) {                                                                         \
            const int32_t diff = (int32_t)x[c] - max_in_row;                                                     \
            if (diff >= p->diff_min) {                                                                           \
                const int32_t scaled = tml_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);             \
                const int32_t e = tml_exp_on_negative_values(scaled, 5);                                         \
                const int32_t out =                                                                              \
                    tml_rdbp(tml_srdhm(shifted_scale, e), (int)num_bits_over_unit + 31 - OUT_BITS) + OUT_MIN;   \
                y[c] = SAT(out);                                                                                 \
            } else {                                                                                             \
                y[c] = OUT_MIN;                                                                                  \
            }                                                                                                    \
        }                                                                                                        \
    }

#define TML_SAT_S8(v) tml_sat_s8(v, -128, 127)
#define TML_SAT_S16(v) (int16_t)((v) < -32768 ? -32768 : ((v) > 32767 ? 32767 : (v)))

void tml_softmax_s8(const tml_softmax_params *p, const int8_t *input, int8_t *output) {
    TML_SOFTMAX_S8_BODY(int8_t, 8, -128, TML_SAT_S8)
}

/* int8 in, int16 out (scale 1/65536, zero point -32768) */
void tml_softmax_s8_s16(const tml_softmax_params *p, const int8_t *input, int16_t *output) {
    TML_SOFTMAX_S8_BODY(int16_t, 16, -32768, TML_SAT_S16)
}
