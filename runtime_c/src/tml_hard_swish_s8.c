/* HARD_SWISH, int8: TFLite reference_ops::HardSwish with 16-bit fixed-point multipliers. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

static int16_t srdhm16(int16_t a, int16_t b) {
    int32_t ab, nudge;
    if (a == b && a == -32768) return 32767;
    ab = (int32_t)a * (int32_t)b;
    nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16(int16_t a, int16_t b) {
    if (a == b && a == -32768) return 32767;
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t sat_shl16(int16_t v, int amount) {
    int32_t r = (int32_t)v * (1 << amount);
    return (int16_t)(r > 32767 ? 32767 : (r < -32768 ? -32768 : r));
}

static int16_t rdbp16(int16_t x, int exponent) {
    const int16_t mask = (int16_t)((1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

void tml_hard_swish_s8(const tml_hard_swish_params *p, const int8_t *input, int8_t *output) {
    const int16_t out_mult = (int16_t)p->output_multiplier_fixedpoint_int16;
    const int16_t relu_mult = (int16_t)p->reluish_multiplier_fixedpoint_int16;
    const int relu_exp = (int)p->reluish_multiplier_exponent;
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const int16_t v = (int16_t)(input[i] - p->input_zp);
        const int16_t hires = (int16_t)(v * (1 << 7));
        const int16_t preshift = srdhm16(hires, out_mult);
        int16_t r = hires, out16;
        int32_t out;
        if (relu_exp > 0) r = sat_shl16(r, relu_exp - 1);
        r = srdhm16(r, relu_mult);
        if (relu_exp > 0) r = sat_shl16(r, 1);
        if (relu_exp < 0) r = rdbp16(r, -relu_exp);
        r = (int16_t)((r + (1 << 15)) >> 1);
        out16 = rdbp16(sdhm16(r, preshift), (int)-p->output_multiplier_exponent);
        out = (int16_t)(out16 + p->output_zp);
        output[i] = tml_sat_s8(out, -128, 127);
    }
}
