/* QUANTIZE float32 -> int8: TFLM AffineQuantize (float division, round half away from zero). */
#include <math.h>

#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_quantize_f32_s8(const tml_quantize_params *p, const float *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) {
        float q = roundf(input[i] / p->scale);
        int32_t v;
        if (q != q) q = 0.0f; /* NaN */
        if (q > 2147483520.0f) q = 2147483520.0f;
        if (q < -2147483648.0f) q = -2147483648.0f;
        v = (int32_t)q;
        output[i] = tml_sat_s8(tml_add_wrap(v, p->zero_point), -128, 127);
    }
}
