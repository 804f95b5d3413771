/* CAST between int8, uint8, int16, int32, float32 and bool (one byte, 0 or 1): TFLM's static_cast per element
 * (integers wrap to the narrower type, integers to float32 round to nearest, anything to bool is != 0, bool
 * to anything is 0 or 1). float32 to an integer type is not generated (out-of-range values are undefined in C
 * and in TFLM's C++). LOGICAL_AND, LOGICAL_OR (4-D broadcasting) and LOGICAL_NOT on bool. */
#include "tml_nn.h"

enum { TML_T_S8, TML_T_U8, TML_T_S16, TML_T_S32, TML_T_F32, TML_T_BOOL };

static int64_t read_int(const void *p, int32_t code, size_t i) {
    switch (code) {
    case TML_T_S8: return ((const int8_t *)p)[i];
    case TML_T_U8: return ((const uint8_t *)p)[i];
    case TML_T_S16: return ((const int16_t *)p)[i];
    case TML_T_S32: return ((const int32_t *)p)[i];
    default: return ((const uint8_t *)p)[i] != 0;
    }
}

void tml_cast(const tml_cast_params *p, const void *input, void *output) {
    size_t i;
    for (i = 0; i < (size_t)p->size; i++) {
        if (p->in_code == TML_T_F32) { /* to float32 (a copy) or to bool */
            const float f = ((const float *)input)[i];
            if (p->out_code == TML_T_BOOL) ((uint8_t *)output)[i] = (uint8_t)(f != 0.0f);
            else ((float *)output)[i] = f;
            continue;
        }
        {
            const int64_t v = read_int(input, p->in_code, i);
            switch (p->out_code) {
            case TML_T_S8: ((int8_t *)output)[i] = (int8_t)v; break;
            case TML_T_U8: ((uint8_t *)output)[i] = (uint8_t)v; break;
            case TML_T_S16: ((int16_t *)output)[i] = (int16_t)v; break;
            case TML_T_S32: ((int32_t *)output)[i] = (int32_t)v; break;
            case TML_T_F32: ((float *)output)[i] = (float)v; break;
            default: ((uint8_t *)output)[i] = (uint8_t)(v != 0); break;
            }
        }
    }
}

#define TML_LOGICAL(NAME, OP)                                                                                   \
    void NAME(const tml_broadcast_params *p, const uint8_t *a, const uint8_t *b, uint8_t *output) {             \
        tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};                                                            \
        const size_t n = tml_broadcast_count(p);                                                                \
        size_t o;                                                                                               \
        for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) output[o] = (uint8_t)((a[w.ia] != 0) OP (b[w.ib] != 0)); \
    }

TML_LOGICAL(tml_logical_and, &&)
TML_LOGICAL(tml_logical_or, ||)

void tml_logical_not(const tml_cast_params *p, const uint8_t *input, uint8_t *output) {
    size_t i;
    for (i = 0; i < (size_t)p->size; i++) output[i] = (uint8_t)(input[i] == 0);
}
