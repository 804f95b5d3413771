/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations, int16 gates and cell state: TFLM's integer LSTM (lstm_eval)
 * as the tflite-micro interpreter runs it (see tinyml.reference.lstm). */
#include <string.h>

#include "tml_fixedpoint.h"
#include "tml_nn.h"

static int32_t sat16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }

/* the four gates' rows `j` of an FC over `v` (n values) in one pass, zero points folded into `fold` (TFLM adds them
 * to every value; the sums agree modulo 2^32, as TFLM's int32 accumulators wrap), then requantized to the 2^-12
 * gate scale and saturated to int16 (TFLM's FullyConnected with an int16 output) */
static void gate_fc4(const int8_t *const w[4], size_t j, const int8_t *v, int32_t n, const int32_t *const bias[4],
                     const int32_t *fold, int32_t units, const int32_t *m, const int32_t *s, int32_t out[4]) {
    const int8_t *w0 = w[0] + j * (size_t)n, *w1 = w[1] + j * (size_t)n, *w2 = w[2] + j * (size_t)n,
                 *w3 = w[3] + j * (size_t)n;
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0; /* unsigned: wrap-around without undefined behaviour */
    int32_t k, g;
    for (k = 0; k < n; k++) {
        const int32_t x = v[k];
        a0 += (uint32_t)(w0[k] * x);
        a1 += (uint32_t)(w1[k] * x);
        a2 += (uint32_t)(w2[k] * x);
        a3 += (uint32_t)(w3[k] * x);
    }
    {
        const uint32_t acc[4] = {a0, a1, a2, a3};
        for (g = 0; g < 4; g++) {
            const uint32_t b = bias[g] ? (uint32_t)bias[g][j] : 0u;
            const uint32_t t = acc[g] + b + (uint32_t)fold[(size_t)g * (size_t)units + j];
            out[g] = sat16(tml_requant(tml_wrap32((int64_t)t), m[g], s[g]));
        }
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
    int32_t b, t, j, g;
    for (b = 0; b < p->batches; b++) {
        int8_t *h = hidden + (size_t)b * n_u;
        int16_t *c = cell + (size_t)b * n_u;
        for (t = 0; t < p->time_steps; t++) {
            const size_t row = p->time_major ? (size_t)t * (size_t)p->batches + (size_t)b
                                             : (size_t)b * (size_t)p->time_steps + (size_t)t;
            const int8_t *x = input + row * n_in;
            int8_t *y = output + row * n_u;
            for (j = 0; j < p->units; j++) {
                int32_t a[4], r[4], gate[4], cj, tc;
                gate_fc4(w_in, (size_t)j, x, p->input_size, bias, p->input_fold, p->units, p->input_multiplier,
                         p->input_shift, a);
                gate_fc4(w_rec, (size_t)j, h, p->units, none, p->recurrent_fold, p->units,
                         p->recurrent_multiplier, p->recurrent_shift, r);
                for (g = 0; g < 4; g++) {
                    const int16_t z = (int16_t)sat16(a[g] + r[g]);
                    gate[g] = g == 2 ? tml_tanh16_value(p->table, 3, 0, z) : tml_logistic16_value(p->table, 3, 0, z);
                }
                cj = sat16(tml_requant(gate[1] * (int32_t)c[j], p->forget_multiplier, p->forget_shift));
                cj = sat16(cj + sat16(tml_requant(gate[0] * gate[2], p->update_multiplier, p->update_shift)));
                if (p->cell_clip > 0) cj = cj < -p->cell_clip ? -p->cell_clip : (cj > p->cell_clip ? p->cell_clip : cj);
                c[j] = (int16_t)cj;
                tc = tml_tanh16_value(p->table, p->cell_tanh_multiplier, p->cell_tanh_shift, (int16_t)cj);
                y[j] = tml_sat_s8(tml_requant(tc * gate[3], p->hidden_multiplier, p->hidden_shift) + p->hidden_zero_point,
                                  -128, 127);
            }
            memcpy(h, y, n_u); /* the new hidden state, read by the next step's recurrent FCs */
        }
    }
}
