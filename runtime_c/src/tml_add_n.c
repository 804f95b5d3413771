/* ADD_N: TFLM reference_ops::AddN, int8 (quantized) and float32 (a float island). Every input has one quantization (TFLM's Prepare()
 * requires it): each value less the zero point is shifted left by `left_shift` and rescaled to the common scale
 * (twice the input scale), the sum, which starts from the rescaled input offset itself as TFLM's does, is
 * requantized to the output and clamped. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_add_n_s8(const tml_add_n_params *p, const int8_t *x0, const int8_t *x1, const int8_t *x2,
                  const int8_t *x3, const int8_t *x4, const int8_t *x5, const int8_t *x6, const int8_t *x7,
                  int8_t *output) {
    const int8_t *const in[8] = {x0, x1, x2, x3, x4, x5, x6, x7};
    const int shift = (int)p->left_shift;
    const int32_t start = tml_mbqm_lt1(tml_shl32(p->input_offset, shift), p->input_multiplier, p->input_shift);
    int32_t i, j;
    for (i = 0; i < p->size; i++) {
        int32_t acc = start;
        for (j = 0; j < p->count; j++) {
            acc += tml_mbqm_lt1(tml_shl32(in[j][i] + p->input_offset, shift), p->input_multiplier, p->input_shift);
        }
        output[i] = tml_sat_s8(tml_mbqm_lt1(acc, p->output_multiplier, p->output_shift) + p->output_offset,
                               p->act_min, p->act_max);
    }
}

void tml_add_n_f32(const tml_add_n_params *p, const float *x0, const float *x1, const float *x2, const float *x3,
                   const float *x4, const float *x5, const float *x6, const float *x7, float *output) {
    const float *const in[8] = {x0, x1, x2, x3, x4, x5, x6, x7};
    int32_t i, j;
    for (i = 0; i < p->size; i++) {
        float acc = 0.0f;
        for (j = 0; j < p->count; j++) acc += in[j][i];
        output[i] = acc;
    }
}
