/* TANH, int8: TFLM reference_integer_ops::Tanh (gemmlowp tanh on Q4.27 input). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_tanh_s8(const tml_sigmoid_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_zp;
        if (v <= -p->input_range_radius) {
            output[i] = -128;
        } else if (v >= p->input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t q4 = tml_mbqm(v, p->input_multiplier, p->input_left_shift);
            int32_t r = 0;
            if (q4 != 0) {
                const int32_t n = q4 < 0 ? q4 : tml_sub_wrap(0, q4);
                const int32_t t = tml_one_minus_x_over_one_plus_x(tml_exp_on_negative_values(n, 5));
                r = q4 < 0 ? tml_sub_wrap(0, t) : t;
            }
            output[i] = tml_sat_s8(tml_rdbp(r, 24), -128, 127);
        }
    }
}
