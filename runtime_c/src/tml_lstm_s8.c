/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations, int16 gates and cell state: TFLM's integer LSTM (lstm_eval)
 * as the tflite-micro interpreter runs it (see tinyml.reference.lstm). */
#include <string.h>

#include "tml_fixedpoint.h"
#include "tml_nn.h"

/* the four gates' rows `j` of an FC over `v` (n values) in one pass, zero points folded into `fold` (TFLM adds them
 * to every value; the sums agree modulo 2^32, as TFLM's int32 accumulators wrap) */
static void gate_fc4(const int8_t *const w[4], size_t j, const int8_t *v, int32_t n, const int32_t *const bias[4],
                     const int32_t *fold, int32_t units, int32_t out[4]) {
    const int8_t *w0 = w[0] + j * (size_t)n, *w1 = w[1] + j * (size_t)n, *w2 = w[2] + j * (size_t)n,
                 *w3 = w[3] + j * (size_t)n;
    uint32_t acc[4] = {0, 0, 0, 0}; /* unsigned: wrap-around without undefined behaviour */
    int32_t k, g;
    for (k = 0; k < n; k++) {
        const int32_t x = v[k];
        acc[0] += (uint32_t)(w0[k] * x);
        acc[1] += (uint32_t)(w1[k] * x);
        acc[2] += (uint32_t)(w2[k] * x);
        acc[3] += (uint32_t)(w3[k] * x);
    }
    for (g = 0; g < 4; g++) {
        const uint32_t b = bias[g] ? (uint32_t)bias[g][j] : 0u;
        out[g] = tml_wrap32((int64_t)(uint32_t)(acc[g] + b + (uint32_t)fold[(size_t)g * (size_t)units + j]));
    }
}

void tml_lstm_s8(const tml_lstm_params *p, const int8_t *input, const int8_t *w_ii, const int8_t *w_if,
                 const int8_t *w_ic, const int8_t *w_io, const int8_t *w_ri, const int8_t *w_rf, const int8_t *w_rc,
                 const int8_t *w_ro, const int32_t *b_i, const int32_t *b_f, const int32_t *b_c, const int32_t *b_o,
                 int8_t *hidden, int16_t *cell, int8_t *output) {
    const int8_t *const w_in[4] = {w_ii, w_if, w_ic, w_io};
    const int8_t *const w_rec[4] = {w_ri, w_rf, w_rc, w_ro};
    const int32_t *const bias[4] = {b_i, b_f, b_c, b_o};
    const int32_t *const none[4] = {NULL, NULL, NULL, NULL};
    const size_t n_in = (size_t)p->input_size, n_u = (size_t)p->units;
    int32_t b, t, j;
    for (b = 0; b < p->batches; b++) {
        int8_t *h = hidden + (size_t)b * n_u;
        int16_t *c = cell + (size_t)b * n_u;
        for (t = 0; t < p->time_steps; t++) {
            const size_t row = p->time_major ? (size_t)t * (size_t)p->batches + (size_t)b
                                             : (size_t)b * (size_t)p->time_steps + (size_t)t;
            const int8_t *x = input + row * n_in;
            int8_t *y = output + row * n_u;
            for (j = 0; j < p->units; j++) {
                int32_t a[4], r[4];
                gate_fc4(w_in, (size_t)j, x, p->input_size, bias, p->input_fold, p->units, a);
                gate_fc4(w_rec, (size_t)j, h, p->units, none, p->recurrent_fold, p->units, r);
                y[j] = tml_lstm_unit(p, a, r, &c[j]);
            }
            memcpy(h, y, n_u); /* the new hidden state, read by the next step's recurrent FCs */
        }
    }
}
