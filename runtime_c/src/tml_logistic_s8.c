/* LOGISTIC, int8: TFLM reference_integer_ops::Logistic (gemmlowp logistic on Q4.27 input). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_logistic_s8(const tml_sigmoid_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_zp;
        if (v <= -p->input_range_radius) {
            output[i] = -128;
        } else if (v >= p->input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t q4 = tml_mbqm(v, p->input_multiplier, p->input_left_shift);
            int32_t r;
            if (q4 == 0) {
                r = 1 << 30;
            } else {
                const int32_t abs_q = q4 > 0 ? q4 : tml_sub_wrap(0, q4);
                const int32_t pos = tml_one_over_one_plus_x(tml_exp_on_negative_values(tml_sub_wrap(0, abs_q), 4));
                r = q4 > 0 ? pos : tml_sub_wrap(TML_INT32_MAX, pos);
            }
            output[i] = tml_sat_s8(tml_rdbp(r, 23) - 128, -128, 127);
        }
    }
}
