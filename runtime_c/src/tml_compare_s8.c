/* EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL on int8 with 4-D broadcasting, bool (one byte, 0
 * or 1) out: TFLM reference_ops::*WithScaling. Each operand less its zero point is shifted left by left_shift
 * (8) and multiplied by its own scale (MultiplyByQuantizedMultiplierSmallerThanOneExp: a_multiplier/a_shift,
 * b_multiplier/b_shift), so operands quantized differently compare as real values. The float32 ones (the
 * converter leaves comparisons of DEQUANTIZEd values in float) compare the IEEE values as they are. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

#define TML_COMPARE(NAME, OP)                                                                                   \
    void NAME(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output) {               \
        tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};                                                            \
        const size_t n = tml_broadcast_count(p);                                                                \
        size_t o;                                                                                               \
        for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {                                                    \
            const int32_t x = tml_mbqm_lt1(((int32_t)a[w.ia] + p->a_offset) * (1 << p->left_shift),             \
                                           p->a_multiplier, p->a_shift);                                        \
            const int32_t y = tml_mbqm_lt1(((int32_t)b[w.ib] + p->b_offset) * (1 << p->left_shift),             \
                                           p->b_multiplier, p->b_shift);                                        \
            output[o] = (uint8_t)(x OP y);                                                                      \
        }                                                                                                       \
    }

TML_COMPARE(tml_equal_s8, ==)
TML_COMPARE(tml_not_equal_s8, !=)
TML_COMPARE(tml_less_s8, <)
TML_COMPARE(tml_less_equal_s8, <=)
TML_COMPARE(tml_greater_s8, >)
TML_COMPARE(tml_greater_equal_s8, >=)

#define TML_COMPARE_F32(NAME, OP)                                                                               \
    void NAME(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output) {                 \
        tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};                                                            \
        const size_t n = tml_broadcast_count(p);                                                                \
        size_t o;                                                                                               \
        for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) output[o] = (uint8_t)(a[w.ia] OP b[w.ib]);          \
    }

TML_COMPARE_F32(tml_equal_f32, ==)
TML_COMPARE_F32(tml_not_equal_f32, !=)
TML_COMPARE_F32(tml_less_f32, <)
TML_COMPARE_F32(tml_less_equal_f32, <=)
TML_COMPARE_F32(tml_greater_f32, >)
TML_COMPARE_F32(tml_greater_equal_f32, >=)
