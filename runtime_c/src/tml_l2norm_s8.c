/* L2_NORMALIZATION, int8: TFLM reference_integer_ops::L2Normalization (output scale 1/128, zero point 0). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_l2norm_s8(const tml_l2norm_params *p, const int8_t *input, int8_t *output) {
    int32_t r, c;
    for (r = 0; r < p->outer; r++) {
        const int8_t *x = input + (size_t)r * (size_t)p->depth;
        int8_t *y = output + (size_t)r * (size_t)p->depth;
        int32_t acc = 0, m;
        int shift;
        for (c = 0; c < p->depth; c++) {
            const int32_t v = (int32_t)x[c] - p->input_zp;
            acc += v * v;
        }
        m = tml_inv_sqrt_multiplier_exp(acc, -1, &shift);
        for (c = 0; c < p->depth; c++) {
            y[c] = tml_sat_s8(tml_mbqm((int32_t)x[c] - p->input_zp, m, shift + 7), -128, 127);
        }
    }
}
