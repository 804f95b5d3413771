/* LEAKY_RELU, int8: TFLite reference_ops::QuantizeLeakyRelu. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_leaky_relu_s8(const tml_leaky_relu_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_zp;
        const int32_t out = v >= 0 ? tml_mbqm(v, p->multiplier_identity, p->shift_identity)
                                   : tml_mbqm(v, p->multiplier_alpha, p->shift_alpha);
        output[i] = tml_sat_s8(out + p->output_zp, -128, 127);
    }
}

/* int16 (16x8, zero points 0): the same arithmetic saturated to int16 (TFLM's QuantizeLeakyRelu<int16_t>) */
void tml_leaky_relu_s16(const tml_leaky_relu_params *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_zp;
        const int32_t out = (v >= 0 ? tml_mbqm(v, p->multiplier_identity, p->shift_identity)
                                    : tml_mbqm(v, p->multiplier_alpha, p->shift_alpha)) + p->output_zp;
        output[i] = (int16_t)(out < -32768 ? -32768 : (out > 32767 ? 32767 : out));
    }
}
