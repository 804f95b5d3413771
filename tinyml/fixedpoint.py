"""Integer arithmetic exactly as TFLM's int8 kernels do it (gemmlowp fixed point, double rounding).

Every function accepts Python ints or NumPy integer arrays and returns NumPy int64 arrays holding int32 (or
int16) values.  This module is the readable specification that `runtime_c/include/tml_fixedpoint.h` implements
in C; the reference executor is built on it.
"""
from __future__ import annotations

import functools
import math

import numpy as np

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _i64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap32(x: object) -> np.ndarray:
    """Two's-complement wrap to int32 (what int32 arithmetic does on every target we build for)."""
    return ((_i64(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _trunc_div_pow2(x: np.ndarray, bits: int) -> np.ndarray:
    """C integer division by 2**bits (truncation toward zero)."""
    return np.where(x >= 0, x >> bits, -((-x) >> bits))


def srdhm(a: object, b: object) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for int32."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div_pow2(ab + nudge, 31)
    return np.where((a == b) & (a == I32_MIN), I32_MAX, res)


def srdhm16(a: object, b: object) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for int16."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    res = _trunc_div_pow2(ab + nudge, 15)
    return np.where((a == b) & (a == I16_MIN), I16_MAX, res)


def sdhm16(a: object, b: object) -> np.ndarray:
    """TFLite SaturatingDoublingHighMul for int16 (no rounding nudge; C division truncates toward zero)."""
    a, b = _i64(a), _i64(b)
    return np.where((a == b) & (a == I16_MIN), I16_MAX, _trunc_div_pow2(a * b, 15))


def rdbp(x: object, exponent: object) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT (round half away from zero)."""
    x, e = _i64(x), _i64(exponent)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def mbqm(x: object, multiplier: object, shift: object) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (int32 x, double rounding)."""
    s = _i64(shift)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    return rdbp(srdhm(wrap32(_i64(x) << left), multiplier), right)


def mbqm64(x: object, multiplier: object, shift: object) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier for an int64 x (16x8 kernels): the multiplier rounded to 16 bits."""
    x, m, s = _i64(x), _i64(multiplier), _i64(shift)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return (x * reduced + (np.int64(1) << (total - 1))) >> total


def mbqm_gt_one(x: object, multiplier: object, left_shift: object) -> np.ndarray:
    """MultiplyByQuantizedMultiplierGreaterThanOne."""
    return srdhm(wrap32(_i64(x) << _i64(left_shift)), multiplier)


def mbqm_lt_one(x: object, multiplier: object, left_shift: object) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0)."""
    return rdbp(srdhm(x, multiplier), -_i64(left_shift))


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real ~= q * 2**(shift - 31), q in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or abs(real) >= float(1 << 30):
        from .errors import UnsupportedOpError
        raise UnsupportedOpError(f"the quantization scales give a requantization multiplier of {real:g}, beyond "
                                 "what TFLM's int32 fixed point represents (below 2^30); the scales are corrupt")
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def frexp_multiplier(real: float) -> tuple[int, int]:
    """The multiplier LOGISTIC and TANH prepare with (frexp and round, no 2**31 fix-up)."""
    q, shift = math.frexp(real)
    return int(tflite_round(q * (1 << 31))), int(shift)


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite CalculateInputRadius."""
    m = 1.0 * ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits)) / (1 << left_shift)
    return int(math.floor(m))


def downscale_int32_to_int16(m: int) -> int:
    if m >= I32_MAX - (1 << 15):
        return I16_MAX
    return (m + (1 << 15)) >> 16


def clz32(x: object) -> np.ndarray:
    x = _i64(x) & 0xFFFFFFFF
    out = np.full(x.shape, 32, dtype=np.int64)
    nz = x != 0
    out[nz] = 31 - np.floor(np.log2(x[nz].astype(np.float64))).astype(np.int64)
    # guard against log2 rounding near powers of two
    fix_hi = nz & (((x << out) & 0xFFFFFFFF) < (1 << 31)) & (out < 32)
    out[fix_hi] += 1
    fix_lo = nz & (out > 0) & ((x >> (32 - out)) != 0)
    out[fix_lo] -= 1
    return out


# ---- gemmlowp fixed-point functions (raw int32 values) ---------------------------------------------------------

def sat_left_shift(x: object, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT with a positive exponent."""
    x = _i64(x)
    threshold = (1 << (31 - exponent)) - 1
    res = wrap32(x << exponent)
    return np.where(x > threshold, I32_MAX, np.where(x < -threshold, I32_MIN, res))


def rescale(x: object, src_int_bits: int, dst_int_bits: int) -> np.ndarray:
    e = src_int_bits - dst_int_bits
    if e > 0:
        return sat_left_shift(x, e)
    if e < 0:
        return rdbp(x, -e)
    return _i64(x)


def _exp_interval(a: np.ndarray) -> np.ndarray:
    """exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 in and out."""
    constant_term = 1895147668
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbp(x4, 2)
    t = rdbp(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + t)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(a: object, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: input Q(integer_bits), output Q0.31."""
    a = _i64(a)
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    mask = one_quarter - 1
    a_mod = wrap32((a & mask) - one_quarter)
    result = _exp_interval(rescale(a_mod, integer_bits, 0))
    remainder = wrap32(a_mod - a)
    for exponent, mult in _EXP_BARREL:
        if integer_bits > exponent:
            shift = frac + exponent
            result = np.where((remainder & (1 << shift)) != 0, srdhm(result, mult), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, I32_MAX, result)


def _newton_reciprocal_half(a: np.ndarray) -> np.ndarray:
    """Shared Newton-Raphson core of one_over_one_plus_x and one_minus_x_over_one_plus_x: returns x in Q2.29."""
    s = a + I32_MAX  # RoundingHalfSum(a, One)
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    half_den = _i64(half_den)
    x = wrap32(1515870810 + srdhm(half_den, -1010580540))
    for _ in range(3):
        hdx = srdhm(half_den, x)
        one_minus = wrap32((1 << 29) - hdx)
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x(a: object) -> np.ndarray:
    x = _newton_reciprocal_half(_i64(a))
    return rescale(x, 1, 0)  # ExactMulByPot<-1> then Rescale<0> from Q1


def one_minus_x_over_one_plus_x(a: object) -> np.ndarray:
    x = _newton_reciprocal_half(_i64(a))
    return rescale(wrap32(x - (1 << 29)), 2, 0)


def logistic_q(a: object, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic: Q(integer_bits) in, Q0.31 out."""
    a = _i64(a)
    pos = a > 0
    abs_a = np.where(pos, a, wrap32(-a))
    r_pos = one_over_one_plus_x(exp_on_negative_values(wrap32(-abs_a), integer_bits))
    r_neg = wrap32(I32_MAX - r_pos)
    return np.where(a == 0, 1 << 30, np.where(pos, r_pos, r_neg))


def tanh_q(a: object, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh: Q(integer_bits) in, Q0.31 out."""
    a = _i64(a)
    neg = a < 0
    n = np.where(neg, a, wrap32(-a))
    t = one_minus_x_over_one_plus_x(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(neg, wrap32(-t), t))


def reciprocal(x: object, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetReciprocal: returns (Q0.31 scale, num_bits_over_unit)."""
    x = _i64(x)
    headroom_plus_one = clz32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = (((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    shifted = wrap32(shifted)
    return one_over_one_plus_x(shifted), num_bits_over_unit


def inv_sqrt_multiplier_exp(value: int, reverse_shift: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp for one int32 value: 1/sqrt(value) as a multiplier and a shift
    (gemmlowp fixed point: five Newton-Raphson steps in Q3.28, then times sqrt(2)/2)."""
    if value <= 1:
        return I32_MAX, 0
    shift = 11
    while value >= (1 << 29):
        value //= 4
        shift += 1
    pairs = (int(clz32(value)) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    x_in = value >> 1  # Q3.28
    half_in = int(rdbp(x_in, 1))
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28  # F3 one
    for _ in range(5):
        x3 = int(sat_left_shift(srdhm(srdhm(x, x), x), 6))  # F9 -> F3
        x = int(sat_left_shift(wrap32(int(srdhm(half_three, x)) - int(srdhm(half_in, x3))), 3))  # F6 -> F3
    x = int(srdhm(x, 1518500250))
    if shift < 0:
        x = int(wrap32(x << -shift))
        shift = 0
    return x, shift * reverse_shift


@functools.lru_cache(maxsize=1)
def sigmoid_table_u16() -> tuple[int, ...]:
    """The 256 nodes of the interpolated sigmoid that TFLM's int16 LOGISTIC and TANH read: sigmoid(i / 24) in 0.16
    fixed point, each node raised by half the error that linear interpolation makes at the middle of the interval
    to its right (so that the interpolated curve errs equally at nodes and midpoints), rounded; the last node is
    the limit 1, saturated to 65535. Equal, node for node, to the table in TFLM's kernels (checked against its
    outputs for every int16 input in tests/test_ops.py)."""
    f = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    i = np.arange(256, dtype=np.float64)
    node, nxt, mid = f(i / 24), f((i + 1) / 24), f((i + 0.5) / 24)
    t = np.round(65536.0 * (node + (mid - (node + nxt) / 2) / 2)).astype(np.int64)
    t[255] = 65535
    return tuple(int(v) for v in t)


def sigmoid16(x: object, multiplier: int, left_shift: int, tanh: bool) -> np.ndarray:
    """TFLM's int16 Logistic / Tanh (reference_integer_ops): the input rescaled to 1/2^9 (logistic) or 1/2^8
    (tanh: tanh(x) = 2 sigmoid(2x) - 1) of a table step, the table interpolated linearly on |x|, reflected for
    negative x, rounded back to int16 (output scale 1/32768)."""
    t = np.asarray(sigmoid_table_u16(), np.int64)
    v = (_i64(x) * multiplier + ((1 << (left_shift - 1)) if left_shift > 0 else 0)) >> left_shift
    frac_bits = 8 if tanh else 9
    a = np.abs(v)
    u = np.minimum(a >> frac_bits, 254)
    lo, hi = t[u], t[u + 1]
    r = np.where((a >> frac_bits) >= 255, (0xFFFF << 8) if tanh else (0x7FFF << 10),
                 (lo << frac_bits) + (a & ((1 << frac_bits) - 1)) * (hi - lo))
    if tanh:
        r = np.where(v >= 0, r - (1 << 23) + (1 << 7), (1 << 23) - r + (1 << 7) - 1)
        return r >> 8
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return r >> 10


# gemmlowp's log(x) for x >= 1 (TFLite's log_x_for_x_greater_than_or_equal_to_1_impl), its constants as raw Q0.31
_LOG_2, _SQRT_SQRT_HALF, _SQRT_HALF, _ONE_QUARTER = 1488522236, 1805811301, 1518500250, 536870912
_ALPHA_N, _ALPHA_D, _ALPHA_I, _ALPHA_F = 117049297, 127690142, 1057819769, 638450708


def _sat32(x: object) -> np.ndarray:
    return np.clip(_i64(x), I32_MIN, I32_MAX)


def _rounding_half_sum(a: object, b: object) -> np.ndarray:
    s = _i64(a) + _i64(b)
    t = s + np.where(s >= 0, 1, -1)
    return np.where(t >= 0, t // 2, -((-t) // 2))  # C++ division truncates toward zero


def log_x_ge_1(x: object, in_bits: int, out_bits: int) -> np.ndarray:
    """log(x) of a Q(in_bits) value x >= 1, as a raw Q(out_bits) value, gemmlowp's way (every + and - of two
    fixed-point values wraps at 32 bits; the named saturating ones saturate)."""
    acc = out_bits + 1
    z_a = _i64(x)
    hz = clz32(z_a)
    r_a_tmp = np.array([sat_left_shift(v, int(h) - 1) if h > 1 else v for v, h in zip(np.atleast_1d(z_a),
                                                                                      np.atleast_1d(hz))])
    r_a = sat_left_shift(srdhm(r_a_tmp, _SQRT_HALF), 1)
    quarter = rescale(_ONE_QUARTER, 0, acc)
    z_a_adj = _sat32(np.array([sat_left_shift(in_bits - int(h), 31 - acc) for h in np.atleast_1d(hz)]) + quarter)
    z_b = srdhm(z_a, _SQRT_HALF)
    hb = clz32(z_b) - 1
    r_b = np.array([sat_left_shift(v, int(h)) if h > 0 else v for v, h in zip(np.atleast_1d(z_a), np.atleast_1d(hb))])
    z_b_adj = _sat32(np.array([sat_left_shift(in_bits - int(h), 31 - acc) for h in np.atleast_1d(hb)]) - quarter)
    r = np.minimum(r_a.reshape(-1), r_b.reshape(-1))
    z_adj = np.maximum(z_a_adj.reshape(-1), z_b_adj.reshape(-1))
    p = _rounding_half_sum(r, _SQRT_SQRT_HALF)
    q = wrap32(r - _SQRT_SQRT_HALF)
    q = wrap32(q + q)
    common_sq = srdhm(q, q)
    num = wrap32(srdhm(q, r) + srdhm(srdhm(q, common_sq), _ALPHA_N))
    denom = wrap32(srdhm(p, wrap32(wrap32(_ALPHA_I + q) + srdhm(_ALPHA_D, common_sq))) + srdhm(_ALPHA_F, q))
    recip = one_over_one_plus_x(denom)
    num_scaled = rescale(num, 0, acc)
    total = wrap32(srdhm(z_adj, _LOG_2) + srdhm(num_scaled, recip))
    return rescale(total, acc, out_bits)
