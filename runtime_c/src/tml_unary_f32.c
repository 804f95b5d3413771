/* NEG and SQUARE on float32 values (float islands): TFLM reference_ops::Negate and its SQUARE kernel, one IEEE
 * single-precision operation per value, so every target gives TFLM's bits. */
#include "tml_nn.h"

void tml_neg_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = -input[i];
}

void tml_square_f32(const tml_unary_f32_params *p, const float *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = input[i] * input[i];
}
