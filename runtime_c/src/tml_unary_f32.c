/* NEG and SQUARE on float32 values (float islands): TFLM reference_ops::Negate and its SQUARE kernel, one IEEE
 * single-precision operation per value, so every target gives TFLM's bits. */
#include <math.h>

#include "tml_nn.h"

void tml_neg_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = -input[i];
}

void tml_square_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = input[i] * input[i];
}

/* ADD, SUB and MUL on float32 (float islands) over a 4-D output d with per-operand strides (0 where broadcast):
 * TFLM's float kernels, one IEEE single-precision operation per element, then the fused activation's range. */
#define TML_BINARY_F32(NAME, OP)                                                                                \
    void NAME(const tml_binary_f32_params *p, const float *a, const float *b, float *output) {                  \
        int32_t i0, i1, i2, i3;                                                                                 \
        for (i0 = 0; i0 < p->d[0]; i0++)                                                                        \
            for (i1 = 0; i1 < p->d[1]; i1++)                                                                    \
                for (i2 = 0; i2 < p->d[2]; i2++)                                                                \
                    for (i3 = 0; i3 < p->d[3]; i3++) {                                                          \
                        const float x = a[i0 * p->a_stride[0] + i1 * p->a_stride[1] + i2 * p->a_stride[2] +     \
                                          i3 * p->a_stride[3]];                                                 \
                        const float y = b[i0 * p->b_stride[0] + i1 * p->b_stride[1] + i2 * p->b_stride[2] +     \
                                          i3 * p->b_stride[3]];                                                 \
                        const float v = x OP y;                                                                 \
                        *output++ = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);            \
                    }                                                                                           \
    }

TML_BINARY_F32(tml_add_f32, +)
TML_BINARY_F32(tml_sub_f32, -)
TML_BINARY_F32(tml_mul_f32, *)

/* FLOOR, CEIL, SQRT and ROUND on float32 (float islands): operations IEEE 754 defines exactly (sqrtf is
 * correctly rounded), so every target gives TFLM's bits; ROUND is TFLM's RoundToNearest (half to even). */
void tml_floor_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = floorf(input[i]);
}

void tml_ceil_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = ceilf(input[i]);
}

void tml_sqrt_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = sqrtf(input[i]);
}

void tml_round_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const float f = floorf(input[i]), diff = input[i] - f;
        output[i] = (diff < 0.5f || (diff == 0.5f && (int32_t)f % 2 == 0)) ? f : f + 1.0f;
    }
}
