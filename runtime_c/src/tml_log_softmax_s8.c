/* LOG_SOFTMAX, int8 (output scale 16/256, zero point 127): TFLM reference_integer_ops::LogSoftmax. Per row, the
 * exps of the scaled differences to the row's maximum summed in Q12, gemmlowp's log of the sum (log(x) for
 * x >= 1: a rational approximation around powers of two) in Q5, each scaled difference less it, rescaled to 1/16
 * steps. Every + and - of two fixed-point values wraps at 32 bits as gemmlowp's; the saturating ones saturate. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

static int32_t sat_add(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + b;
    return s > TML_INT32_MAX ? TML_INT32_MAX : s < TML_INT32_MIN ? TML_INT32_MIN : (int32_t)s;
}

static int32_t shl_sat(int32_t x, int exponent) { return exponent > 0 ? tml_sat_shl(x, exponent) : x; }

static int32_t half_sum(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* log(x) of a Q12 value x >= 1 as a Q5 value (accumulation with one more integer bit, Q6) */
static int32_t log_q12_to_q5(int32_t x) {
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769, alpha_f = 638450708;
    const int32_t quarter = tml_rdbp(536870912, 6);
    const int hz = tml_clz32((uint32_t)x);
    const int32_t r_a = shl_sat(tml_srdhm(shl_sat(x, hz - 1), sqrt_half), 1);
    const int32_t za_adj = sat_add(tml_sat_shl(12 - hz, 25), quarter);
    const int32_t z_b = tml_srdhm(x, sqrt_half);
    const int hb = tml_clz32((uint32_t)z_b) - 1;
    const int32_t r_b = shl_sat(x, hb);
    const int32_t zb_adj = sat_add(tml_sat_shl(12 - hb, 25), -quarter);
    const int32_t r = r_a < r_b ? r_a : r_b, z_adj = za_adj > zb_adj ? za_adj : zb_adj;
    const int32_t p = half_sum(r, sqrt_sqrt_half);
    int32_t q = tml_sub_wrap(r, sqrt_sqrt_half), common_sq, num, denom;
    q = tml_add_wrap(q, q);
    common_sq = tml_srdhm(q, q);
    num = tml_add_wrap(tml_srdhm(q, r), tml_srdhm(tml_srdhm(q, common_sq), alpha_n));
    denom = tml_add_wrap(tml_srdhm(p, tml_add_wrap(tml_add_wrap(alpha_i, q), tml_srdhm(alpha_d, common_sq))),
                         tml_srdhm(alpha_f, q));
    const int32_t frac = tml_srdhm(tml_rdbp(num, 6), tml_one_over_one_plus_x(denom));
    return tml_sat_shl(tml_add_wrap(tml_srdhm(z_adj, log_2), frac), 1);
}

void tml_log_softmax_s8(const tml_log_softmax_params *p, const int8_t *input, int8_t *output) {
    int32_t row, c;
    for (row = 0; row < p->rows; row++) {
        const int8_t *x = input + (size_t)row * p->depth;
        int8_t *y = output + (size_t)row * p->depth;
        int32_t max_in_row = -128, sum = 0, log_sum, adjusted;
        for (c = 0; c < p->depth; c++) max_in_row = tml_max_i32(max_in_row, x[c]);
        for (c = 0; c < p->depth; c++) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t d5 = tml_mbqm(diff, p->input_multiplier, p->input_left_shift);
                sum = tml_add_wrap(sum, tml_rdbp(tml_exp_on_negative_values(d5, 5), 12));
            }
        }
        log_sum = log_q12_to_q5(sum);
        adjusted = tml_max_i32(p->diff_min - 1, tml_mbqm(tml_add_wrap(log_sum, TML_INT32_MIN), p->reverse_multiplier,
                                                         p->reverse_shift));
        for (c = 0; c < p->depth; c++) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff > adjusted) {
                const int32_t d5 = tml_mbqm(diff, p->input_multiplier, p->input_left_shift);
                y[c] = tml_sat_s8(tml_rdbp(tml_sub_wrap(d5, log_sum), 22) + 127, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
