/* FULLY_CONNECTED, int8 activations, int8 or packed int4 weights: TFLM reference_integer_ops::FullyConnected
 * (double rounding). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

static inline void fc_body(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output, const int bits) {
    int32_t b, oc, d;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + (size_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_c; oc++) {
            const size_t w0 = (size_t)oc * p->accum_depth;
            const int32_t ch = p->per_channel ? oc : 0;
            int32_t acc = 0;
            for (d = 0; d < p->accum_depth; d++) {
                acc += (tml_weight(filter, w0 + (size_t)d, bits) + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
            }
            if (bias) acc += bias[oc];
            acc = tml_mbqm(acc, p->multiplier[ch], p->shift[ch]) + p->output_offset;
            output[(size_t)b * p->out_c + oc] = tml_sat_s8(acc, p->act_min, p->act_max);
        }
    }
}

void tml_fully_connected_s8(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output) {
    fc_body(p, input, filter, bias, output, 8);
}

void tml_fully_connected_s4(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output) {
    fc_body(p, input, filter, bias, output, 4);
}
