/* FULLY_CONNECTED, int8 activations, int8 or packed int4 weights: TFLM reference_integer_ops::FullyConnected
 * (double rounding). The _acc/_finish pair computes the same layer band by band (see tml_nn.h). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* The output stage: bias, requantization, zero point, activation clamp. */
static inline int8_t fc_output(const tml_fc_params *p, int32_t acc, const int32_t *bias, int32_t oc) {
    const int32_t ch = p->per_channel ? oc : 0;
    if (bias) acc += bias[oc];
    acc = tml_mbqm(acc, p->multiplier[ch], p->shift[ch]) + p->output_offset;
    return tml_sat_s8(acc, p->act_min, p->act_max);
}

/* sum over d < count of (filter[w0 + d] + filter_offset) * (x[d] + input_offset) */
static inline int32_t fc_dot(const int8_t *x, const int8_t *filter, size_t w0, int32_t count, int32_t input_offset,
                             int32_t filter_offset, const int bits) {
    int32_t acc = 0, d;
    for (d = 0; d < count; d++) {
        acc += (tml_weight(filter, w0 + (size_t)d, bits) + filter_offset) * ((int32_t)x[d] + input_offset);
    }
    return acc;
}

static inline void fc_body(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output, const int bits) {
    int32_t b, oc;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + (size_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_c; oc++) {
            const int32_t acc = fc_dot(x, filter, (size_t)oc * p->accum_depth, p->accum_depth, p->input_offset,
                                       p->filter_offset, bits);
            output[(size_t)b * p->out_c + oc] = fc_output(p, acc, bias, oc);
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

static inline void fc_acc(const tml_accumulate_params *p, const int8_t *input, const int8_t *filter, int32_t *acc,
                          const int bits) {
    int32_t oc;
    for (oc = 0; oc < p->out_c; oc++) {
        const size_t w0 = (size_t)oc * p->accum_depth + (size_t)p->start;
        const int32_t part = fc_dot(input, filter, w0, p->count, p->input_offset, p->filter_offset, bits);
        acc[oc] = p->first ? part : acc[oc] + part;
    }
}

void tml_fully_connected_acc_s8(const tml_accumulate_params *p, const int8_t *input, const int8_t *filter,
                                int32_t *acc) {
    fc_acc(p, input, filter, acc, 8);
}

void tml_fully_connected_acc_s4(const tml_accumulate_params *p, const int8_t *input, const int8_t *filter,
                                int32_t *acc) {
    fc_acc(p, input, filter, acc, 4);
}

void tml_fully_connected_finish_s8(const tml_fc_params *p, const int32_t *acc, const int32_t *bias,
                                   int8_t *output) {
    int32_t oc;
    for (oc = 0; oc < p->out_c; oc++) output[oc] = fc_output(p, acc[oc], bias, oc);
}
