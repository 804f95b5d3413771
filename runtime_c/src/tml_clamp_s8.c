/* RELU6, int8, same quantization in and out: TFLM Relu6Quantized. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_clamp_s8(const tml_clamp_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = tml_sat_s8(input[i], p->lo, p->hi);
}
