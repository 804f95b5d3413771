/* MEAN, SUM and REDUCE_MAX over any subset of the axes of a 4-D int8 tensor: TFLM reduce (QuantizedMeanOrSum,
 * or the plain integer mean when input and output quantization are equal; ReduceGeneric for the maximum). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* The output stage of one reduced element from the sum of its inputs. */
static inline int8_t mean_output(const tml_mean_params *p, int32_t sum) {
    int32_t out;
    if (p->same_quant) {
        out = p->num_elements > 0 ? sum / p->num_elements : 0;
    } else {
        const int32_t shifted = tml_wrap32((int64_t)sum - (int64_t)p->input_zp * p->num_elements);
        out = tml_mbqm(shifted, p->multiplier, p->shift) + p->output_zp;
    }
    return tml_sat_s8(out, -128, 127);
}

/* One loop for MEAN and SUM (the sum's output stage) and REDUCE_MAX (the largest stored value, as TFLM's
 * ReduceGeneric compares them; input and output share one quantization). `is_max` is a constant per entry point. */
static inline void reduce_body(const tml_mean_params *p, const int8_t *input, int8_t *output, const int is_max) {
    const int32_t *d = p->in_dims;
    int32_t e[4], o[4], r[4], k;
    size_t out_i = 0;
    for (k = 0; k < 4; k++) e[k] = p->reduce[k] ? 1 : d[k]; /* output extents */
    for (o[0] = 0; o[0] < e[0]; o[0]++)
    for (o[1] = 0; o[1] < e[1]; o[1]++)
    for (o[2] = 0; o[2] < e[2]; o[2]++)
    for (o[3] = 0; o[3] < e[3]; o[3]++) {
        int32_t acc = is_max ? -128 : 0;
        for (r[0] = 0; r[0] < (p->reduce[0] ? d[0] : 1); r[0]++)
        for (r[1] = 0; r[1] < (p->reduce[1] ? d[1] : 1); r[1]++)
        for (r[2] = 0; r[2] < (p->reduce[2] ? d[2] : 1); r[2]++)
        for (r[3] = 0; r[3] < (p->reduce[3] ? d[3] : 1); r[3]++) {
            const size_t idx = (((size_t)(o[0] + r[0]) * (size_t)d[1] + (size_t)(o[1] + r[1])) * (size_t)d[2] +
                                (size_t)(o[2] + r[2])) * (size_t)d[3] + (size_t)(o[3] + r[3]);
            if (is_max) {
                if (input[idx] > acc) acc = input[idx];
            } else {
                acc += input[idx];
            }
        }
        output[out_i++] = is_max ? (int8_t)acc : mean_output(p, acc);
    }
}

void tml_mean_s8(const tml_mean_params *p, const int8_t *input, int8_t *output) {
    reduce_body(p, input, output, 0);
}

void tml_reduce_max_s8(const tml_mean_params *p, const int8_t *input, int8_t *output) {
    reduce_body(p, input, output, 1);
}

void tml_mean_finish_s8(const tml_mean_params *p, const int32_t *acc, int8_t *output) {
    int32_t c;
    for (c = 0; c < p->in_dims[3]; c++) output[c] = mean_output(p, acc[c]);
}
