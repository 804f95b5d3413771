/* MUL, int8, with 4-D broadcasting: TFLM reference_integer_ops::Mul. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_mul_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    int32_t i0, i1, i2, i3;
    size_t o = 0;
    for (i0 = 0; i0 < p->d0; i0++) {
        for (i1 = 0; i1 < p->d1; i1++) {
            for (i2 = 0; i2 < p->d2; i2++) {
                for (i3 = 0; i3 < p->d3; i3++) {
                    const size_t ia = tml_broadcast_at(p->a_stride, i0, i1, i2, i3);
                    const size_t ib = tml_broadcast_at(p->b_stride, i0, i1, i2, i3);
                    const int32_t prod = ((int32_t)a[ia] + p->a_offset) * ((int32_t)b[ib] + p->b_offset);
                    const int32_t out = tml_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
                    output[o++] = tml_sat_s8(out, p->act_min, p->act_max);
                }
            }
        }
    }
}
