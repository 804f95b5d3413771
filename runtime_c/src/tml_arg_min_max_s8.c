/* ARG_MAX and ARG_MIN, int8: TFLM reference_ops::ArgMinMax (a strict comparison keeps the first index of ties). */
#include "tml_nn.h"

static inline void arg_body(const tml_arg_params *p, const int8_t *input, int32_t *output, const int is_min) {
    int32_t o, i, a;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            const int8_t *x = input + (size_t)o * (size_t)p->axis * (size_t)p->inner + (size_t)i;
            int8_t best = x[0];
            int32_t at = 0;
            for (a = 1; a < p->axis; a++) {
                const int8_t v = x[(size_t)a * (size_t)p->inner];
                if (is_min ? v < best : v > best) {
                    best = v;
                    at = a;
                }
            }
            output[(size_t)o * (size_t)p->inner + (size_t)i] = at;
        }
    }
}

void tml_arg_max_s8(const tml_arg_params *p, const int8_t *input, int32_t *output) { arg_body(p, input, output, 0); }

void tml_arg_min_s8(const tml_arg_params *p, const int8_t *input, int32_t *output) { arg_body(p, input, output, 1); }
