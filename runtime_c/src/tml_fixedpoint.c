/* tinyml runtime: gemmlowp fixed-point transcendental helpers (see tinyml/fixedpoint.py). */
#include "tml_fixedpoint.h"

static int32_t exp_interval(int32_t a) {
    const int32_t constant_term = 1895147668;
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = tml_add_wrap(a, 1 << 28);
    const int32_t x2 = tml_srdhm(x, x);
    const int32_t x3 = tml_srdhm(x2, x);
    const int32_t x4 = tml_srdhm(x2, x2);
    const int32_t x4_over_4 = tml_rdbp(x4, 2);
    const int32_t t = tml_rdbp(tml_add_wrap(tml_srdhm(tml_add_wrap(x4_over_4, x3), constant_1_over_3), x2), 1);
    return tml_add_wrap(constant_term, tml_srdhm(constant_term, tml_add_wrap(x, t)));
}

int32_t tml_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod = tml_sub_wrap(a & mask, one_quarter);
    int32_t result = exp_interval(tml_sat_shl(a_mod, integer_bits));
    const int32_t remainder = tml_sub_wrap(a_mod, a);
    int exponent;
    for (exponent = -2; exponent <= 4; exponent++) {
        if (integer_bits > exponent) {
            const int shift = frac + exponent;
            if ((int64_t)remainder & ((int64_t)1 << shift)) result = tml_srdhm(result, barrel[exponent + 2]);
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) result = 0;
    }
    return a == 0 ? TML_INT32_MAX : result;
}

/* Newton-Raphson core shared by both reciprocals: returns x in Q2.29. */
static int32_t newton_half(int32_t a) {
    const int64_t sum = (int64_t)a + TML_INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = tml_add_wrap(1515870810, tml_srdhm(half_den, -1010580540));
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t hdx = tml_srdhm(half_den, x);
        const int32_t one_minus = tml_sub_wrap((int32_t)1 << 29, hdx);
        x = tml_add_wrap(x, tml_sat_shl(tml_srdhm(x, one_minus), 2));
    }
    return x;
}

int32_t tml_one_over_one_plus_x(int32_t a) { return tml_sat_shl(newton_half(a), 1); }

int32_t tml_one_minus_x_over_one_plus_x(int32_t a) {
    return tml_sat_shl(tml_sub_wrap(newton_half(a), (int32_t)1 << 29), 2);
}

int32_t tml_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    const int headroom_plus_one = tml_clz32((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return tml_one_over_one_plus_x(
        tml_wrap32((int64_t)(uint32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31))));
}

int32_t tml_inv_sqrt_multiplier_exp(int32_t input, int reverse_shift, int *shift) {
    int32_t x_in, half_in, x;
    const int32_t half_three = ((int32_t)1 << 28) + ((int32_t)1 << 27);
    int s = 11, pairs, i;
    if (input <= 1) {
        *shift = 0;
        return TML_INT32_MAX;
    }
    while (input >= ((int32_t)1 << 29)) {
        input /= 4;
        s++;
    }
    pairs = (tml_clz32((uint32_t)input) - 1) / 2 - 1;
    s -= pairs;
    input = (int32_t)((uint32_t)input << (2 * pairs));
    x_in = input >> 1; /* Q3.28 */
    half_in = tml_rdbp(x_in, 1);
    x = (int32_t)1 << 28; /* one in Q3.28 */
    for (i = 0; i < 5; i++) {
        const int32_t x3 = tml_sat_shl(tml_srdhm(tml_srdhm(x, x), x), 6);
        x = tml_sat_shl(tml_sub_wrap(tml_srdhm(half_three, x), tml_srdhm(half_in, x3)), 3);
    }
    x = tml_srdhm(x, 1518500250); /* times sqrt(2) / 2 */
    if (s < 0) {
        x = tml_shl32(x, -s);
        s = 0;
    }
    *shift = s * reverse_shift;
    return x;
}
