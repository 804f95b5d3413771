/* int8 -> int8 requantization with clamping: TFLM RELU (ReluQuantized) and QUANTIZE (Requantize). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_requantize_s8(const tml_requantize_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int32_t out = p->output_zp + tml_mbqm((int32_t)input[i] - p->input_zp, p->multiplier, p->shift);
        output[i] = tml_sat_s8(out, p->act_min, p->act_max);
    }
}
