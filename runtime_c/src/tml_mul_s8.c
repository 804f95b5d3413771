/* MUL with 4-D broadcasting, int8 and int16 (16x8: zero points 0): TFLM reference_integer_ops::Mul. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* the product of the offset operands, requantized: the output before its clamp */
static int32_t mul_value(const tml_broadcast_params *p, int32_t x, int32_t y) {
    const int32_t prod = (x + p->a_offset) * (y + p->b_offset);
    return tml_mbqm(prod, p->output_multiplier, p->output_shift) + p->output_offset;
}

void tml_mul_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        output[o] = tml_sat_s8(mul_value(p, a[w.ia], b[w.ib]), p->act_min, p->act_max);
    }
}

void tml_mul_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        output[o] = (int16_t)tml_min_i32(tml_max_i32(mul_value(p, a[w.ia], b[w.ib]), p->act_min), p->act_max);
    }
}
