/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations, int16 gates and cell state: TFLM's integer LSTM (lstm_eval)
 * as the tflite-micro interpreter runs it (see tinyml.reference.lstm). */
#include <string.h>

#include "tml_fixedpoint.h"
#include "tml_nn.h"

static int32_t sat16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }

/* one row of a gate's FC requantized to the 2^-12 gate scale, saturated to int16 (TFLM's FullyConnected with an
 * int16 output; its int32 accumulator wraps as TFLM's does) */
static int32_t gate_fc(const int8_t *w, const int8_t *v, int32_t n, int32_t offset, int64_t bias, int32_t m,
                       int32_t s) {
    int64_t acc = bias;
    int32_t k;
    for (k = 0; k < n; k++) acc += (int32_t)w[k] * ((int32_t)v[k] + offset);
    return sat16(tml_mbqm(tml_wrap32(acc), m, s));
}

void tml_lstm_s8(const tml_lstm_params *p, const int8_t *input, const int8_t *w_ii, const int8_t *w_if,
                 const int8_t *w_ic, const int8_t *w_io, const int8_t *w_ri, const int8_t *w_rf, const int8_t *w_rc,
                 const int8_t *w_ro, const int32_t *b_i, const int32_t *b_f, const int32_t *b_c, const int32_t *b_o,
                 int8_t *hidden, int16_t *cell, int8_t *output) {
    const int8_t *const w_in[4] = {w_ii, w_if, w_ic, w_io};
    const int8_t *const w_rec[4] = {w_ri, w_rf, w_rc, w_ro};
    const int32_t *const bias[4] = {b_i, b_f, b_c, b_o};
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
                int32_t gate[4], cj, tc;
                for (g = 0; g < 4; g++) {
                    const int32_t a = gate_fc(w_in[g] + (size_t)j * n_in, x, p->input_size, p->input_offset,
                                              bias[g][j], p->input_multiplier[g], p->input_shift[g]);
                    const int32_t r = gate_fc(w_rec[g] + (size_t)j * n_u, h, p->units, p->hidden_offset, 0,
                                              p->recurrent_multiplier[g], p->recurrent_shift[g]);
                    const int16_t z = (int16_t)sat16(a + r);
                    gate[g] = g == 2 ? tml_tanh16_value(p->table, 3, 0, z) : tml_logistic16_value(p->table, 3, 0, z);
                }
                cj = sat16(tml_mbqm(gate[1] * (int32_t)c[j], p->forget_multiplier, p->forget_shift));
                cj = sat16(cj + sat16(tml_mbqm(gate[0] * gate[2], p->update_multiplier, p->update_shift)));
                if (p->cell_clip > 0) cj = cj < -p->cell_clip ? -p->cell_clip : (cj > p->cell_clip ? p->cell_clip : cj);
                c[j] = (int16_t)cj;
                tc = tml_tanh16_value(p->table, p->cell_tanh_multiplier, p->cell_tanh_shift, (int16_t)cj);
                y[j] = tml_sat_s8(tml_mbqm(tc * gate[3], p->hidden_multiplier, p->hidden_shift) + p->hidden_zero_point,
                                  -128, 127);
            }
            memcpy(h, y, n_u); /* the new hidden state, read by the next step's recurrent FCs */
        }
    }
}
