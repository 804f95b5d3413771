/* tinyml runtime: integer arithmetic exactly as TFLM's int8 kernels do it (gemmlowp fixed point, double
 * rounding). The Python specification of every function is tinyml/fixedpoint.py. C99, no floating point. */
#ifndef TML_FIXEDPOINT_H
#define TML_FIXEDPOINT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tml_nn.h"

#define TML_INT32_MIN ((int32_t)(-2147483647 - 1))
#define TML_INT32_MAX ((int32_t)2147483647)

static inline int32_t tml_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t tml_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int8_t tml_sat_s8(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Weight i of a filter stored as int8 (bits 8) or as int4 packed two per byte, low nibble first (bits 4). */
static inline int32_t tml_weight(const int8_t *filter, size_t i, int bits) {
    if (bits == 8) return filter[i];
    {
        const uint32_t byte = (uint8_t)filter[i >> 1];
        const int32_t nibble = (int32_t)((i & 1u) ? (byte >> 4) : (byte & 0x0Fu));
        return (nibble ^ 8) - 8;
    }
}

/* Two's-complement wrap of a 64-bit value to int32 (what int32 arithmetic does on every target here),
 * without relying on signed overflow. */
static inline int32_t tml_wrap32(int64_t v) {
    uint32_t u = (uint32_t)((uint64_t)v & 0xFFFFFFFFu);
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)((int64_t)u - 4294967296LL);
}

/* x * 2^shift with int32 wrap-around (TFLM writes x * (1 << shift)). */
static inline int32_t tml_shl32(int32_t x, int shift) { return tml_wrap32((int64_t)x * ((int64_t)1 << shift)); }

/* gemmlowp SaturatingRoundingDoublingHighMul. */
static inline int32_t tml_srdhm(int32_t a, int32_t b) {
    int64_t ab, nudge;
    if (a == b && a == TML_INT32_MIN) return TML_INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (1LL << 30) : (1LL - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* gemmlowp RoundingDivideByPOT: round half away from zero. */
static inline int32_t tml_rdbp(int32_t x, int exponent) {
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding). */
static inline int32_t tml_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return tml_rdbp(tml_srdhm(tml_shl32(x, left), multiplier), right);
}

/* tml_mbqm in fewer instructions, for the multipliers tinyml computes (0 <= multiplier < 2^31): with m >= 0,
 * SaturatingRoundingDoublingHighMul(a, m) is exactly (a * m + 2^30) >> 31 (for a * m < 0 the truncating division
 * of a * m + 1 - 2^30 by 2^31 equals the floor of (a * m + 2^30) / 2^31; the saturating case needs
 * m == INT32_MIN), one SMLAL and two shifts on Cortex-M. Arithmetic right shifts of negative values, as every
 * compiler for these targets does them. */
static inline int32_t tml_requant(int32_t acc, int32_t multiplier, int32_t shift) {
    if (shift > 0) {
        const int32_t x = (int32_t)((uint32_t)acc << shift);
        return (int32_t)(((int64_t)x * multiplier + (1LL << 30)) >> 31);
    }
    {
        const int32_t x = (int32_t)(((int64_t)acc * multiplier + (1LL << 30)) >> 31);
        const int e = (int)-shift;
        const int32_t mask = (int32_t)((1u << e) - 1u);
        return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0 ? 1 : 0) ? 1 : 0);
    }
}

/* tml_requant for a multiplier in (2^30, 2^31) and shift <= -2, the common case of convolutions: with
 * e = -shift, the double rounding is floor((x * m + 2^30 + (2^(e-1) - [x * m < -2^30]) * 2^31) / 2^(31 + e)),
 * and with m > 2^30, x * m < -2^30 exactly when x < 0. The constant added is then a 64-bit value whose halves are
 * cheap to form from the sign of x, so that one SMLAL and one shift of its high word do everything.
 * tml_requant_pre takes e1 = e - 1 and hp = 2^(e - 2) computed ahead (generated kernels keep them per channel, with
 * the output zero point z folded in as hp = 2^(e - 2) + z * 2^(e - 1): adding a multiple of 2^e1 before the shift
 * adds z after it). */
static inline int32_t tml_requant_pre(int32_t x, int32_t multiplier, int32_t e1, int32_t hp) {
    const int32_t s = x >> 31; /* -1 for a negative x */
    const int64_t lo = (int64_t)(0x40000000u ^ ((uint32_t)s << 31));
    const int64_t v = (int64_t)(hp + s) * 4294967296LL + lo + (int64_t)x * multiplier;
    return (int32_t)(v >> 32) >> e1;
}

/* tml_requant_pre for an output stage whose activation minimum is at or above the output zero point (a fused
 * ReLU): a negative accumulator requantizes to 0 or less there and is clamped to the minimum, and the formula
 * without its sign terms also gives 0 or less for it (x * m + 2^30 < 0 when m > 2^30), so the sign terms drop. */
static inline int32_t tml_requant_pre_relu(int32_t x, int32_t multiplier, int32_t e1, int32_t hp) {
    const int64_t v = (int64_t)hp * 4294967296LL + 0x40000000 + (int64_t)x * multiplier;
    return (int32_t)(v >> 32) >> e1;
}

/* tml_requant_pre_relu for records whose shift may also be -1 (e = 1, where 2^(e - 2) is no integer): the
 * constant added is hp2 * 2^31 + 2^30 with hp2 = 2^(e - 1) + z * 2^e, an integer for every e >= 1 (for e >= 2 the
 * very constant of tml_requant_pre_relu, hp2 = 2 * hp; for e = 1, z * 2^32 + 2^31 + 2^30: both roundings, the
 * second by one bit, then the zero point); e1 = e - 1 as there. */
static inline int32_t tml_requant_pre_relu1(int32_t x, int32_t multiplier, int32_t e1, int32_t hp2) {
    const int64_t v = (int64_t)hp2 * 2147483648LL + 0x40000000 + (int64_t)x * multiplier;
    return (int32_t)(v >> 32) >> e1;
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0). */
static inline int32_t tml_mbqm_lt1(int32_t x, int32_t multiplier, int32_t left_shift) {
    return tml_rdbp(tml_srdhm(x, multiplier), (int)-left_shift);
}

/* MultiplyByQuantizedMultiplierGreaterThanOne. */
static inline int32_t tml_mbqm_gt1(int32_t x, int32_t multiplier, int32_t left_shift) {
    return tml_srdhm(tml_shl32(x, (int)left_shift), multiplier);
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent. */
static inline int32_t tml_sat_shl(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)((1LL << (31 - exponent)) - 1);
    if (x > threshold) return TML_INT32_MAX;
    if (x < -threshold) return TML_INT32_MIN;
    return tml_shl32(x, exponent);
}

static inline int32_t tml_add_wrap(int32_t a, int32_t b) { return tml_wrap32((int64_t)a + b); }
static inline int32_t tml_sub_wrap(int32_t a, int32_t b) { return tml_wrap32((int64_t)a - b); }

static inline int tml_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
}

/* gemmlowp exp_on_negative_values: a in Q(integer_bits).(31-integer_bits), a <= 0; result in Q0.31. */
int32_t tml_exp_on_negative_values(int32_t a, int integer_bits);
/* gemmlowp one_over_one_plus_x_for_x_in_0_1 and one_minus_x_over_one_plus_x_for_x_in_0_1 (Q0.31). */
int32_t tml_one_over_one_plus_x(int32_t a);
int32_t tml_one_minus_x_over_one_plus_x(int32_t a);
/* TFLite GetReciprocal (Q0.31 scale of 1/x and the bits above one) and GetInvSqrtQuantizedMultiplierExp. */
int32_t tml_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit);
int32_t tml_inv_sqrt_multiplier_exp(int32_t input, int reverse_shift, int *shift);

/* TFLM AffineQuantize of one value before the clamp to the output type: round(x / scale) (float division, half
 * away from zero) + zero point; NaN counts as 0 and the rounded value is held inside int32. */
static inline int32_t tml_quantize_f32(float x, float scale, int32_t zero_point) {
    float q = roundf(x / scale);
    if (q != q) q = 0.0f; /* NaN */
    if (q > 2147483520.0f) q = 2147483520.0f;
    if (q < -2147483648.0f) q = -2147483648.0f;
    return tml_add_wrap((int32_t)q, zero_point);
}

/* The 64-bit MultiplyByQuantizedMultiplier of TFLM's 16x8 kernels (the multiplier rounded to 16 bits). */
static inline int32_t tml_mbqm64(int64_t x, int32_t multiplier, int32_t shift) {
    const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total_shift = 15 - (int)shift;
    return (int32_t)((x * reduced + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* CountLeadingSignBits for int32 (GCC's __builtin_clrsb; 31 for 0 and -1). */
static inline int tml_clsb32(int32_t x) { return tml_clz32((uint32_t)(x < 0 ? ~x : x)) - 1; }

/* TFLM's int16 Logistic / Tanh of one value (reference_integer_ops, input rescaled by multiplier / 2^left_shift)
 * through the 256-node sigmoid table (tinyml.fixedpoint.sigmoid_table_u16): kernels that apply them elementwise
 * (tml_s16.c, the LSTM kernels) share these. */
/* the table interpolated at |x rescaled| with `frac` fraction bits; -1 beyond the last node (saturated by the
 * caller); *v gets the rescaled input */
static inline int32_t tml_sigmoid16_abs(const uint16_t *table, int32_t multiplier, int32_t left_shift, int16_t in,
                                        int32_t frac, int32_t *v) {
    const int32_t round = left_shift > 0 ? (int32_t)1 << (left_shift - 1) : 0;
    const int32_t x = ((int32_t)in * multiplier + round) >> left_shift;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x), u = a >> frac;
    *v = x;
    if (u >= 255) return -1;
    {
        const int32_t lo = table[u], hi = table[u + 1];
        return (int32_t)(((uint32_t)lo << frac) + (a & ((1u << frac) - 1u)) * (uint32_t)(hi - lo));
    }
}

static inline int16_t tml_logistic16_value(const uint16_t *table, int32_t multiplier, int32_t left_shift,
                                           int16_t in) {
    int32_t x;
    const int32_t r0 = tml_sigmoid16_abs(table, multiplier, left_shift, in, 9, &x);
    const uint32_t r = r0 < 0 ? (uint32_t)0x7FFF << 10 : (uint32_t)r0;
    /* sigmoid(-x) = 1 - sigmoid(x); rounded from 0.25 to 0.15 */
    return (int16_t)((x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u) >> 10);
}

static inline int16_t tml_tanh16_value(const uint16_t *table, int32_t multiplier, int32_t left_shift, int16_t in) {
    int32_t x;
    const int32_t r0 = tml_sigmoid16_abs(table, multiplier, left_shift, in, 8, &x);
    const int32_t r = r0 < 0 ? (int32_t)(0xFFFF << 8) : r0;
    /* tanh(x) = 2 sigmoid(2x) - 1, odd; from 0.24 to 0.15 */
    return (int16_t)((x >= 0 ? r - (1 << 23) + (1 << 7) : (1 << 23) - r + (1 << 7) - 1) >> 8);
}

/* int16 saturation */
static inline int32_t tml_sat16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }

/* One unit's LSTM step after the FCs (TFLM's lstm_eval): `in` and `rec` are the four gates' (input, forget, cell,
 * output) input-FC and recurrent-FC sums, bias and zero points included, each requantized to the 2^-12 gate
 * scale and saturated to int16 before they are added; then the int16 sigmoid (tanh for the cell gate), the cell
 * state forget x cell + input x cell gate (clipped), and the returned hidden value tanh(cell) x output gate.
 * The runtime LSTM kernel and the generated ones share it. */
static inline int8_t tml_lstm_unit(const tml_lstm_params *p, const int32_t in[4], const int32_t rec[4],
                                   int16_t *cell) {
    int32_t gate[4], c, g;
    for (g = 0; g < 4; g++) {
        const int16_t z = (int16_t)tml_sat16(tml_sat16(tml_requant(in[g], p->input_multiplier[g], p->input_shift[g])) +
                                             tml_sat16(tml_requant(rec[g], p->recurrent_multiplier[g],
                                                                   p->recurrent_shift[g])));
        gate[g] = g == 2 ? tml_tanh16_value(p->table, 3, 0, z) : tml_logistic16_value(p->table, 3, 0, z);
    }
    c = tml_sat16(tml_requant(gate[1] * (int32_t)*cell, p->forget_multiplier, p->forget_shift));
    c = tml_sat16(c + tml_sat16(tml_requant(gate[0] * gate[2], p->update_multiplier, p->update_shift)));
    if (p->cell_clip > 0) c = c < -p->cell_clip ? -p->cell_clip : (c > p->cell_clip ? p->cell_clip : c);
    *cell = (int16_t)c;
    return tml_sat_s8(tml_requant(tml_tanh16_value(p->table, p->cell_tanh_multiplier, p->cell_tanh_shift,
                                                   (int16_t)c) * gate[3], p->hidden_multiplier, p->hidden_shift) +
                      p->hidden_zero_point, -128, 127);
}

#endif
