/* ADD and SUB with 4-D broadcasting, int8 and int16 (16x8: zero points 0, a left shift of 15): TFLM
 * reference_integer_ops::Add / reference_ops::Sub. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* both operands rescaled to the common scale, added (subtracted), requantized: the output before its clamp */
static int32_t add_value(const tml_broadcast_params *p, int32_t x, int32_t y) {
    const int32_t sa = tml_mbqm_lt1(tml_shl32(x + p->a_offset, (int)p->left_shift), p->a_multiplier, p->a_shift);
    const int32_t sb = tml_mbqm_lt1(tml_shl32(y + p->b_offset, (int)p->left_shift), p->b_multiplier, p->b_shift);
    const int32_t raw = p->is_sub ? tml_sub_wrap(sa, sb) : tml_add_wrap(sa, sb);
    return tml_mbqm_lt1(raw, p->output_multiplier, p->output_shift) + p->output_offset;
}

void tml_add_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        output[o] = tml_sat_s8(add_value(p, a[w.ia], b[w.ib]), p->act_min, p->act_max);
    }
}

void tml_add_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        output[o] = (int16_t)tml_min_i32(tml_max_i32(add_value(p, a[w.ia], b[w.ib]), p->act_min), p->act_max);
    }
}
