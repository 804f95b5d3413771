/* DEQUANTIZE int8 -> float32: TFLM reference_ops::Dequantize (double scale). */
#include "tml_nn.h"

void tml_dequantize_s8_f32(const tml_dequantize_params *p, const int8_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (float)(p->scale * (double)((int32_t)input[i] - p->zero_point));
}
