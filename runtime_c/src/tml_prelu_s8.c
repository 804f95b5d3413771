/* PRELU, int8, alpha broadcast over the input: TFLM reference_ops::BroadcastPrelu4DSlow with the parameters of
 * CalculatePreluParams (a_* fields: s_x / s_y for x >= 0; b_* fields: s_x * s_alpha / s_y for x < 0). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_prelu_s8(const tml_broadcast_params *p, const int8_t *input, const int8_t *alpha, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        const size_t ia = w.ia;
        const int32_t x = (int32_t)input[ia] + p->a_offset;
        int32_t y;
        if (x >= 0) {
            y = tml_mbqm(x, p->a_multiplier, p->a_shift);
        } else {
            const size_t ib = w.ib;
            y = tml_mbqm(x * ((int32_t)alpha[ib] + p->b_offset), p->b_multiplier, p->b_shift);
        }
        output[o] = tml_sat_s8(y + p->output_offset, -128, 127);
    }
}
