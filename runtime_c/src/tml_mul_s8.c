/* MUL, int8, with 4-D broadcasting: TFLM reference_integer_ops::Mul. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_mul_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        const size_t ia = w.ia;
        const size_t ib = w.ib;
        const int32_t prod = ((int32_t)a[ia] + p->a_offset) * ((int32_t)b[ib] + p->b_offset);
        const int32_t out = tml_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
        output[o] = tml_sat_s8(out, p->act_min, p->act_max);
    }
}
