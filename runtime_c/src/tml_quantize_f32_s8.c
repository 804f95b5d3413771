/* QUANTIZE float32 -> int8: TFLM AffineQuantize (float division, round half away from zero). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_quantize_f32_s8(const tml_quantize_params *p, const float *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = tml_sat_s8(tml_quantize_f32(input[i], p->scale, p->zero_point), -128, 127);
}
