/* SVDF, int8 input/output with an int16 or int8 activation state: TFLM's EvalIntegerSvdfReference as the
 * tflite-micro interpreter runs it (see tinyml.reference.svdf). One body, instantiated for both state types. */

#include "tml_fixedpoint.h"
#include "tml_nn.h"
#include "tml_simd.h"

/* two's complement narrowing of v to `bits`, without implementation-defined conversions */
static int32_t svdf_wrap(int32_t v, int bits) {
    const uint32_t mask = (1u << bits) - 1u, half = 1u << (bits - 1);
    return (int32_t)(((uint32_t)v + half) & mask) - (int32_t)half;
}

#define TML_SVDF_BODY(STATE_T, BITS)                                                                                  \
    const int32_t units = p->filters / p->rank, lo = -(1 << ((BITS) - 1)), hi = (1 << ((BITS) - 1)) - 1;              \
    const size_t per_batch = (size_t)p->filters * (size_t)p->memory;                                                  \
    int32_t b, f, i, u, r;                                                                                            \
    tml_copy_down((unsigned char *)state, (const unsigned char *)(state + 1),                                         \
                  ((size_t)p->batches * per_batch - 1) * sizeof(STATE_T)); /* the shift of every memory by one */     \
    for (b = 0; b < p->batches; b++) {                                                                                \
        const int8_t *x = input + (size_t)b * (size_t)p->input_size;                                                  \
        STATE_T *st = state + (size_t)b * per_batch;                                                                  \
        const STATE_T *wt = weights_time;                                                                             \
        for (f = 0; f < p->filters; f++) {                                                                            \
            const int8_t *w = weights_feature + (size_t)f * (size_t)p->input_size;                                    \
            uint32_t acc = (uint32_t)p->feature_fold[f]; /* the input offset, folded (sums wrap as TFLM's) */         \
            int32_t v;                                                                                                \
            for (i = 0; i < p->input_size; i++) acc += (uint32_t)(w[i] * x[i]);                                       \
            v = tml_requant(tml_wrap32((int64_t)acc), p->multiplier1, p->shift1);                                     \
            v = v < lo ? lo : (v > hi ? hi : v);                                                                      \
            st[(size_t)f * (size_t)p->memory + (size_t)p->memory - 1] =                                               \
                (STATE_T)svdf_wrap(v + p->state_zero_point, (BITS));                                                  \
        }                                                                                                             \
        for (u = 0; u < units; u++) {                                                                                 \
            int64_t sum = bias[u];                                                                                    \
            for (r = 0; r < p->rank; r++) {                                                                           \
                const STATE_T *s = st + (size_t)(u * p->rank + r) * (size_t)p->memory;                                \
                const STATE_T *w = wt + (size_t)(u * p->rank + r) * (size_t)p->memory;                                \
                uint32_t dot = (uint32_t)p->time_fold[u * p->rank + r]; /* the state zero point, folded */            \
                for (i = 0; i < p->memory; i++) dot += (uint32_t)((int32_t)w[i] * (int32_t)s[i]);                     \
                sum += tml_wrap32((int64_t)dot);                                                                      \
            }                                                                                                         \
            output[(size_t)b * (size_t)units + (size_t)u] =                                                           \
                tml_sat_s8(tml_requant(tml_wrap32(sum), p->multiplier2, p->shift2) + p->output_offset, -128, 127);    \
        }                                                                                                             \
    }

void tml_svdf_s8(const tml_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                 const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output) {
    TML_SVDF_BODY(int16_t, 16)
}

void tml_svdf_s8_s8state(const tml_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                         const int8_t *weights_time, const int32_t *bias, int8_t *state, int8_t *output) {
    TML_SVDF_BODY(int8_t, 8)
}
