/* PRELU, int8, alpha broadcast over the input: TFLM reference_ops::BroadcastPrelu4DSlow with the parameters of
 * CalculatePreluParams (a_* fields: s_x / s_y for x >= 0; b_* fields: s_x * s_alpha / s_y for x < 0). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_prelu_s8(const tml_broadcast_params *p, const int8_t *input, const int8_t *alpha, int8_t *output) {
    int32_t i0, i1, i2, i3;
    size_t o = 0;
    for (i0 = 0; i0 < p->d0; i0++) {
        for (i1 = 0; i1 < p->d1; i1++) {
            for (i2 = 0; i2 < p->d2; i2++) {
                for (i3 = 0; i3 < p->d3; i3++) {
                    const size_t ia = tml_broadcast_at(p->a_stride, i0, i1, i2, i3);
                    const int32_t x = (int32_t)input[ia] + p->a_offset;
                    int32_t y;
                    if (x >= 0) {
                        y = tml_mbqm(x, p->a_multiplier, p->a_shift);
                    } else {
                        const size_t ib = tml_broadcast_at(p->b_stride, i0, i1, i2, i3);
                        y = tml_mbqm(x * ((int32_t)alpha[ib] + p->b_offset), p->b_multiplier, p->b_shift);
                    }
                    output[o++] = tml_sat_s8(y + p->output_offset, -128, 127);
                }
            }
        }
    }
}
