/* QUANTIZE between the integer types TFLM's kernel pairs beyond int8/int16 (TFLM reference_ops::Requantize):
 * uint8 -> int8 and int8 -> uint8 (models with uint8 inputs or outputs around an int8 graph), int8/int16 -> int32
 * and int32 -> int8/int16. The input less its zero point is multiplied by the scale ratio
 * (MultiplyByQuantizedMultiplier), the output zero point added, and the result clamped to [act_min, act_max],
 * the output type's range. DEQUANTIZE uint8 -> float32 (double scale, as TFLM's Dequantize). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

#define TML_REQUANTIZE(NAME, IN_T, OUT_T)                                                                       \
    void NAME(const tml_requantize_params *p, const IN_T *input, OUT_T *output) {                               \
        int32_t i;                                                                                              \
        for (i = 0; i < p->size; i++) {                                                                         \
            const int32_t v = p->output_zp + tml_mbqm((int32_t)input[i] - p->input_zp, p->multiplier, p->shift); \
            output[i] = (OUT_T)(v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v);                 \
        }                                                                                                       \
    }

TML_REQUANTIZE(tml_requantize_u8_s8, uint8_t, int8_t)
TML_REQUANTIZE(tml_requantize_s8_u8, int8_t, uint8_t)
TML_REQUANTIZE(tml_requantize_s8_s32, int8_t, int32_t)
TML_REQUANTIZE(tml_requantize_s16_s32, int16_t, int32_t)
TML_REQUANTIZE(tml_requantize_s32_s8, int32_t, int8_t)
TML_REQUANTIZE(tml_requantize_s32_s16, int32_t, int16_t)

void tml_dequantize_u8_f32(const tml_dequantize_params *p, const uint8_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = (float)(p->scale * (double)((int32_t)input[i] - p->zero_point));
}
