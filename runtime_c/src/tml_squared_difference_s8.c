/* SQUARED_DIFFERENCE, int8, with 4-D broadcasting: TFLM squared_difference.cc, the parameters of its
 * PrepareQuantized (tinyml.lower._squared_difference). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_squared_difference_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        const size_t ia = w.ia;
        const size_t ib = w.ib;
        const int32_t sa = tml_mbqm_lt1(tml_shl32((int32_t)a[ia] + p->a_offset, (int)p->left_shift),
                                        p->a_multiplier, p->a_shift);
        const int32_t sb = tml_mbqm_lt1(tml_shl32((int32_t)b[ib] + p->b_offset, (int)p->left_shift),
                                        p->b_multiplier, p->b_shift);
        const int32_t d = sa - sb; /* |d| < 2^15: the square fits in int32 */
        const int32_t out = tml_mbqm(d * d, p->output_multiplier, p->output_shift) + p->output_offset;
        output[o] = tml_sat_s8(out, p->act_min, p->act_max);
    }
}
