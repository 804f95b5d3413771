"""Lowering of the activations: SOFTMAX, LOG_SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6,
L2_NORMALIZATION, and the operators TFLM runs through a lookup table (ABS, RSQRT, ELU)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import access
from .. import fixedpoint as fp
from ..fixedpoint import (
    downscale_int32_to_int16,
    frexp_multiplier,
    input_radius,
    inv_sqrt_multiplier_exp,
    mbqm,
    quantize_multiplier,
    sigmoid_table_u16,
    tflite_round,
)
from ..ir import (
    Activation,
    DType,
    ElementwiseAttrs,
    Graph,
    LeakyReluAttrs,
    Op,
    OpKind,
    SoftmaxAttrs,
)
from ..params import (
    ClampParams,
    HardSwishParams,
    Kernel,
    KernelRow,
    L2NormParams,
    LeakyReluParams,
    LogSoftmaxParams,
    LutParams,
    RequantizeParams,
    Sigmoid16Params,
    SigmoidParams,
    SoftmaxParams,
    SoftmaxS16Params,
)
from .common import (
    QMAX,
    QMIN,
    Arr,
    FloatCall,
    act_type,
    check_one_input,
    require,
    require_int8,
    sat8,
    torch_modules,
)
from .quantize import TYPE_RANGES


def int16_lut(func: Callable[[np.ndarray], np.ndarray], in_scale: float, in_zp: int, out_scale: float,
              out_zp: int) -> tuple[int, ...]:
    """TFLite LUTPopulate<int16_t>: 512 samples of func over the int16 input range, each biased by half its
    midpoint interpolation error, and the value at the top; float32 arithmetic as TFLM's, func correctly rounded
    to float32 (what glibc's expf and a float division give)."""
    f32 = np.float32
    in_min = f32(f32(in_scale) * f32(-32768 - in_zp))
    in_max = f32(f32(in_scale) * f32(32767 - in_zp))
    out_min = f32(f32(out_scale) * f32(-32768 - out_zp))
    out_max = f32(f32(out_scale) * f32(32767 - out_zp))
    step = f32(f32(in_max - in_min) / f32(512))
    half = f32(step / f32(2))
    inv = f32(f32(65536) / f32(out_max - out_min))

    def rnd(v: np.ndarray) -> np.ndarray:  # std::round on float32: half away from zero
        v = np.asarray(v, f32)
        return (np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)).astype(f32)
    i = np.arange(512).astype(f32)
    at = (in_min + (i * step).astype(f32)).astype(f32)
    val = func(at)
    mid = func((at + half).astype(f32))
    nxt = func((in_min + ((i + f32(1)) * step).astype(f32)).astype(f32))
    sample = rnd(val * inv)
    interp = rnd(((nxt * inv).astype(f32) + rnd(val * inv)).astype(f32) / f32(2))
    err = (interp - rnd(mid * inv)).astype(f32)
    bias = rnd(err / f32(2))
    table = np.clip((sample - bias).astype(f32), -32768, 32767).astype(np.int64).tolist()
    table.append(int(np.clip(rnd(func(np.asarray([in_max], f32)) * inv)[0], -32768, 32767)))
    return tuple(int(v) for v in table)


def _f32_exp(v: np.ndarray) -> np.ndarray:
    return np.asarray([np.float32(np.exp(np.float64(t))) for t in np.atleast_1d(v)], np.float32)


def _f32_one_over_one_plus(v: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.asarray(v, np.float32))).astype(np.float32)


def lower_softmax(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, SoftmaxAttrs)
    if x.dtype is DType.INT16:
        act_type(op, x, y)
        require(abs(y.scale - 1 / 32768) < 1e-12, "int16 SOFTMAX output must have scale 1/32768 and zero point 0 "
                "(as TFLM requires)")
        m, shift = quantize_multiplier(x.scale * op.attrs.beta / (10.0 / 65535.0))
        depth = x.shape[-1]
        f32 = np.float32
        p = SoftmaxS16Params(x.size // depth, depth, m, shift,  # TFLM's tables: exp on [-10, 0], 1/(1+x) on [0, 1]
                             int16_lut(_f32_exp, float(f32(10) / f32(65535)), 32767, float(f32(2) / f32(65535)), 0),
                             int16_lut(_f32_one_over_one_plus, float(f32(1) / f32(65535)), -32768,
                                       float(f32(2) / f32(65535)), 0))
        return [Kernel("tml_softmax_s16", p, (op.inputs[0], op.outputs[0]))]
    require(x.dtype is DType.INT8 and x.quant is not None and y.dtype in (DType.INT8, DType.INT16) and
            y.quant is not None, f"SOFTMAX from {x.dtype.value} to {y.dtype.value} is not supported (TFLM's kernel "
            "takes int8 -> int8, int8 -> int16 and int16 -> int16, quantized)")
    if y.dtype is DType.INT16:
        require(y.zero_point == -32768 and abs(y.scale - 1 / 65536) <= 0.001 / 65536,
                "SOFTMAX from int8 to int16 needs output scale 1/65536 and zero point -32768 (as TFLM requires)")
    else:
        require(y.zero_point == -128 and abs(y.scale - 1 / 256) < 1e-9,
                "int8 SOFTMAX output must have scale 1/256 and zero point -128 (as TFLM requires)")
    integer_bits = 5
    real = min(op.attrs.beta * x.scale * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    m, left_shift = quantize_multiplier(real)
    require(left_shift >= 0, "SOFTMAX input scale too small")
    diff_min = -input_radius(integer_bits, left_shift)
    depth = x.shape[-1]
    p = SoftmaxParams(x.size // depth, depth, m, left_shift, diff_min)
    return [Kernel("tml_softmax_s8_s16" if y.dtype is DType.INT16 else "tml_softmax_s8", p,
                   (op.inputs[0], op.outputs[0]))]


def lower_log_softmax(g: Graph, op: Op) -> list[Kernel]:
    """LOG_SOFTMAX, int8 (TFLM: PreprocessLogSoftmaxScalingExp with beta 1 and 5 integer bits; output scale
    16/256, zero point 127)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require_int8(x, y)
    require(y.zero_point == 127 and y.scale == 16.0 / 256, "int8 LOG_SOFTMAX output must have scale 16/256 and "
            "zero point 127 (as TFLM requires)")
    m, left_shift = quantize_multiplier(min(float(x.scale) * (1 << 26), (1 << 31) - 1.0))
    require(left_shift >= 0, "LOG_SOFTMAX input scale too small")
    rm, rs = quantize_multiplier((1 << (31 - left_shift)) / m)
    require(rs <= 0, "LOG_SOFTMAX input scale too large")
    depth = x.shape[-1]
    p = LogSoftmaxParams(x.size // depth, depth, m, left_shift, rm, rs, -input_radius(5, left_shift))
    return [Kernel("tml_log_softmax_s8", p, (op.inputs[0], op.outputs[0]))]


def lower_sigmoid(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    if x.dtype is DType.INT16:
        act_type(op, x, y)
        # TFLM's Prepare: the input scale times 2^12 (3 integer bits) times 3 (the table's x is 24ths, the kernel's
        # index 32nds: a factor 3/4), doubled up to above 2^14 with the doublings counted as a right shift
        mult, shift = float(x.scale) * 4096.0 * 3.0, 0
        while mult <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            mult *= 2.0
        require(int(mult) * 32768 < (1 << 31), f"int16 {op.kind.value} input scale {x.scale:g} is too large (TFLM's "
                "kernel would overflow 32 bits)")
        p16 = Sigmoid16Params(x.size, int(mult), shift, sigmoid_table_u16())
        return [Kernel("tml_logistic_s16" if op.kind is OpKind.LOGISTIC else "tml_tanh_s16", p16,
                       (op.inputs[0], op.outputs[0]))]
    require_int8(x, y)
    if op.kind is OpKind.LOGISTIC:
        require(y.zero_point == -128, "int8 LOGISTIC output zero point must be -128 (as TFLM requires)")
    else:
        require(y.zero_point == 0, "int8 TANH output zero point must be 0 (as TFLM requires)")
    m, left_shift = frexp_multiplier(x.scale * float(1 << (31 - 4)))
    p = SigmoidParams(x.size, x.zero_point, input_radius(4, left_shift), m, left_shift)
    func = "tml_logistic_s8" if op.kind is OpKind.LOGISTIC else "tml_tanh_s8"
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def lower_hard_swish(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    require_int8(x, y)
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(x.scale)
    om, oe = quantize_multiplier(float(hires / f32(y.scale)))
    rm, re_ = quantize_multiplier(float(hires / (f32(3.0) / f32(32768.0))))
    require(oe <= 0, "HARD_SWISH output scale too small")
    p = HardSwishParams(x.size, x.zero_point, y.zero_point, downscale_int32_to_int16(rm), re_,
                        downscale_int32_to_int16(om), oe)
    return [Kernel("tml_hard_swish_s8", p, (op.inputs[0], op.outputs[0]))]


def lower_leaky_relu(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, LeakyReluAttrs)
    act = act_type(op, x, y)
    f32 = np.float32
    ma, sa = quantize_multiplier(float(f32(x.scale) * f32(op.attrs.alpha) / f32(y.scale)))
    mi, si = quantize_multiplier(float(f32(x.scale) / f32(y.scale)))
    p = LeakyReluParams(x.size, x.zero_point, y.zero_point, ma, sa, mi, si)
    return [Kernel("tml_leaky_relu_" + act, p, (op.inputs[0], op.outputs[0]))]


def lower_relu(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    if act_type(op, x, y) == "s16":  # TFLM's int16 ReluQuantized / Relu6Quantized (zero points 0)
        qmin, qmax = TYPE_RANGES[DType.INT16]
        if op.kind is OpKind.RELU6:  # a clamp of the input as it is: an identity requantization
            six = max(qmin, min(qmax, x.zero_point + tflite_round(float(np.float32(6.0) / np.float32(x.scale)))))
            p = RequantizeParams(x.size, 0, 0, 1 << 30, 1, x.zero_point, six)  # FloatToQuantizedType saturates
        else:
            m, s = quantize_multiplier(x.scale / y.scale)
            p = RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, max(qmin, y.zero_point), qmax)
        return [Kernel("tml_requantize_s16", p, (op.inputs[0], op.outputs[0]))]
    if op.kind is OpKind.RELU6:
        lo = x.zero_point
        hi = max(QMIN, min(QMAX, x.zero_point + tflite_round(float(np.float32(6.0) / np.float32(x.scale)))))
        return [Kernel("tml_clamp_s8", ClampParams(x.size, lo, hi), (op.inputs[0], op.outputs[0]))]
    m, s = quantize_multiplier(x.scale / y.scale)
    lo = max(QMIN, y.zero_point + tflite_round(float(np.float32(0.0) / np.float32(y.scale))))
    p = RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, lo, QMAX)
    return [Kernel("tml_requantize_s8", p, (op.inputs[0], op.outputs[0]))]


def abs_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM AbsEvalQuantized for every int8 input (elementwise.cc: a rescale only when the scales differ)."""
    f32 = np.float32
    rescale = f32(s_in) != f32(s_out)
    m, sh = quantize_multiplier(float(f32(s_in) / f32(s_out))) if rescale else (0, 0)
    out = []
    for v in range(-128, 128):
        a = abs(v - zp_in)
        out.append(int(np.clip((int(mbqm(a, m, sh)) if rescale else a) + zp_out, QMIN, QMAX)))
    return tuple(out)


def rsqrt_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM RsqrtEvalQuantized for every int8 input: 1/sqrt(v - zp) through GetInvSqrtQuantizedMultiplierExp and
    two MultiplyByQuantizedMultiplier steps with a 2^20 headroom; 127 at v == zp. Below the zero point TFLM's
    Invoke fails (RSQRT of a negative value); the table holds 127 there too."""
    f32 = np.float32
    m, sh = quantize_multiplier(1.0 / float(f32(np.sqrt(f32(s_in))) * f32(s_out)))
    out = []
    for v in range(-128, 128):
        x = v - zp_in
        if x <= 0:
            out.append(QMAX)
            continue
        inv, inv_shift = inv_sqrt_multiplier_exp(x, -1)
        data = int(mbqm(1, inv, inv_shift + 20))
        out.append(int(np.clip(int(mbqm(data, m, sh - 20)) + zp_out, QMIN, QMAX)))
    return tuple(out)


def elu_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM's ELU for every int8 input (PopulateLookupTable in float32: dequantize, exp(x) - 1 below zero, times
    1/s_out, round half away from zero, plus the zero point, saturated); exp correctly rounded to float32, as
    glibc's expf gives it."""
    f32 = np.float32
    inv = f32(1) / f32(s_out)
    out = []
    for v in range(-128, 128):
        d = f32(s_in) * f32(v - zp_in)
        t = (_f32_exp(d)[0] - f32(1)) if d < 0 else d
        r = f32(tflite_round(float(f32(t * inv))))
        out.append(int(np.clip(int(f32(r + f32(zp_out))), QMIN, QMAX)))
    return tuple(out)


LUT_TABLES = {OpKind.ABS: abs_table, OpKind.RSQRT: rsqrt_table, OpKind.ELU: elu_table}


def lower_lut(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require_int8(x, y)
    require(len(x.quant.scale) == 1 and len(y.quant.scale) == 1, f"{op.kind.value} needs per-tensor quantization")
    require(x.size == y.size, f"{op.kind.value} input {list(x.shape)} and output {list(y.shape)} differ in size")
    table = LUT_TABLES[op.kind](x.scale, x.zero_point, y.scale, y.zero_point)
    return [Kernel("tml_lut_s8", LutParams(x.size, table[128:] + table[:128]), (op.inputs[0], op.outputs[0]))]


def lower_l2norm(g: Graph, op: Op) -> list[Kernel]:
    """L2_NORMALIZATION (TFLM reference_integer_ops::L2Normalization): 1/sqrt of the row's sum of squares by
    GetInvSqrtQuantizedMultiplierExp, output in 1/128 steps."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ElementwiseAttrs)
    require_int8(x, y)
    require(y.scale == 1 / 128 and y.zero_point == 0, "L2_NORMALIZATION output must have scale 1/128 and zero "
            "point 0 (as TFLM requires)")
    require(op.attrs.activation is Activation.NONE, "L2_NORMALIZATION with a fused activation is not supported "
            "(TFLM refuses it too)")
    depth = x.shape[-1]
    return [Kernel("tml_l2norm_s8", L2NormParams(x.size // depth, depth, x.zero_point),
                   (op.inputs[0], op.outputs[0]))]


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.SOFTMAX: lower_softmax, OpKind.LOGISTIC: lower_sigmoid, OpKind.TANH: lower_sigmoid,
    OpKind.HARD_SWISH: lower_hard_swish, OpKind.LEAKY_RELU: lower_leaky_relu, OpKind.RELU: lower_relu,
    OpKind.RELU6: lower_relu, OpKind.ABS: lower_lut, OpKind.RSQRT: lower_lut, OpKind.ELU: lower_lut,
    OpKind.L2_NORMALIZATION: lower_l2norm, OpKind.LOG_SOFTMAX: lower_log_softmax,
}


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.LOGISTIC: check_one_input, OpKind.TANH: check_one_input, OpKind.HARD_SWISH: check_one_input,
    OpKind.LEAKY_RELU: check_one_input, OpKind.RELU: check_one_input, OpKind.RELU6: check_one_input,
    OpKind.SOFTMAX: check_one_input, OpKind.ABS: check_one_input, OpKind.RSQRT: check_one_input,
    OpKind.L2_NORMALIZATION: check_one_input, OpKind.ELU: check_one_input, OpKind.LOG_SOFTMAX: check_one_input,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def softmax(p: SoftmaxParams, x: Arr, out_bits: int = 8) -> Arr:
    """int8 in; int8 out (zero point -128), or int16 out (`out_bits` 16, zero point -32768): TFLM's Softmax
    template, whose output type sets the final shift and offset."""
    xs = x.reshape(p.rows, p.depth).astype(np.int64)
    diff = xs - xs.max(axis=1, keepdims=True)
    ok = diff >= p.diff_min
    rescaled = fp.mbqm_gt_one(diff, p.input_multiplier, p.input_left_shift)
    e = fp.exp_on_negative_values(rescaled, 5)
    sum_exps = np.where(ok, fp.rescale(e, 0, 12), 0).sum(axis=1, keepdims=True)
    sum_exps = fp.wrap32(sum_exps)
    scale, bits = fp.reciprocal(sum_exps, 12)
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    out = fp.rdbp(fp.srdhm(scale, e), bits + 31 - out_bits) + lo
    return np.where(ok, np.clip(out, lo, hi), lo)


def log_softmax(p: LogSoftmaxParams, x: Arr) -> Arr:
    """TFLM's integer LogSoftmax: the row's exps summed in Q12, gemmlowp's log of the sum in Q5, each input's
    scaled difference less it, rescaled to the output's 1/16 steps at zero point 127."""
    out = np.full((p.rows, p.depth), -128, np.int64)
    for r, row in enumerate(x.reshape(p.rows, p.depth).astype(np.int64)):
        diff = row - row.max()
        d5 = fp.mbqm(diff, p.input_multiplier, p.input_left_shift)
        ok = diff >= p.diff_min
        total = fp.wrap32(np.where(ok, fp.rescale(fp.exp_on_negative_values(d5, 5), 0, 12), 0).sum())
        log_sum = int(fp.log_x_ge_1(total, 12, 5)[0])
        adjusted = max(p.diff_min - 1, int(fp.mbqm(fp.wrap32(log_sum - (1 << 31)), p.reverse_multiplier,
                                                   p.reverse_shift)))
        val = np.clip(fp.rdbp(fp.wrap32(d5 - log_sum), 22) + 127, -128, 127)
        out[r] = np.where(diff > adjusted, val, -128)
    return out


def _sigmoid_common(p: SigmoidParams, x: Arr, fn: Callable[[Arr], Arr], lo_val: int) -> Arr:
    v = x.astype(np.int64) - p.input_zp
    q4 = fp.mbqm(v, p.input_multiplier, p.input_left_shift)
    mid = fn(q4)
    return np.where(v <= -p.input_range_radius, lo_val, np.where(v >= p.input_range_radius, 127, mid)).astype(
        np.int8)


def logistic(p: SigmoidParams, x: Arr) -> Arr:
    return _sigmoid_common(p, x, lambda q: np.clip(fp.rdbp(fp.logistic_q(q, 4), 23) - 128, -128, 127), -128)


def tanh(p: SigmoidParams, x: Arr) -> Arr:
    return _sigmoid_common(p, x, lambda q: np.clip(fp.rdbp(fp.tanh_q(q, 4), 24), -128, 127), -128)


def sigmoid_s16(p: Sigmoid16Params, x: Arr, tanh: bool) -> Arr:
    return fp.sigmoid16(x, p.input_multiplier, p.input_left_shift, tanh).astype(np.int16)


def _i16(v: Arr) -> Arr:
    return ((v.astype(np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


def _sat_left_shift16(v: Arr, amount: int) -> Arr:
    return np.clip(v.astype(np.int64) << amount, fp.I16_MIN, fp.I16_MAX)


def hard_swish(p: HardSwishParams, x: Arr) -> Arr:
    v = _i16(x.astype(np.int64) - p.input_zp)
    hires = _i16(v * 128)
    preshift = _i16(fp.srdhm16(hires, p.output_multiplier_fixedpoint_int16))
    r = hires
    if p.reluish_multiplier_exponent > 0:
        r = _sat_left_shift16(r, p.reluish_multiplier_exponent - 1)
    r = _i16(fp.srdhm16(r, p.reluish_multiplier_fixedpoint_int16))
    if p.reluish_multiplier_exponent > 0:
        r = _sat_left_shift16(r, 1)
    if p.reluish_multiplier_exponent < 0:
        r = _i16(fp.rdbp(r, -p.reluish_multiplier_exponent))
    r = _i16((r + (1 << 15)) >> 1)
    out = _i16(fp.sdhm16(r, preshift))
    out = _i16(fp.rdbp(out, -p.output_multiplier_exponent))
    out = _i16(out + p.output_zp)
    return np.clip(out, -128, 127).astype(np.int8)


def leaky_relu_values(p: LeakyReluParams, x: Arr) -> Arr:
    """Unsaturated: the caller clamps to the output type (int8 or int16)."""
    v = x.astype(np.int64) - p.input_zp
    pos = fp.mbqm(v, p.multiplier_identity, p.shift_identity)
    neg = fp.mbqm(v, p.multiplier_alpha, p.shift_alpha)
    return np.where(v >= 0, pos, neg) + p.output_zp


def leaky_relu(p: LeakyReluParams, x: Arr) -> Arr:
    return sat8(leaky_relu_values(p, x))


def clamp(p: ClampParams, x: Arr) -> Arr:
    return np.clip(x.astype(np.int64), p.lo, p.hi).astype(np.int8)


def l2norm(p: L2NormParams, x: Arr) -> Arr:
    rows = x.reshape(p.outer, p.depth).astype(np.int64) - p.input_zp
    out = np.empty_like(rows)
    for r, v in enumerate(rows):
        m, shift = fp.inv_sqrt_multiplier_exp(int((v * v).sum()), -1)
        out[r] = fp.mbqm(v, m, shift + 7)
    return sat8(out)


def _lut16(v: Arr, table: tuple[int, ...]) -> Arr:
    t = np.asarray(table, np.int64)
    index, offset = 256 + (v >> 7), v & 0x7F
    return t[index] + (((t[index + 1] - t[index]) * offset + 64) >> 7)


def softmax_s16(p: SoftmaxS16Params, x: Arr) -> Arr:
    rows = x.reshape(p.rows, p.depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    scaled = fp.mbqm(diff, p.input_multiplier, p.input_left_shift)
    e = _lut16(np.clip(scaled + 32767, -32768, 32767), p.exp_lut)
    total = e.sum(axis=1, keepdims=True)
    hp1 = fp.clz32(total)
    shifted = ((total << (hp1 - 1)) + (1 << 13)) >> 14
    recip = _lut16(np.clip(shifted - 98304, -32768, 32767), p.recip_lut)
    rs = 31 - hp1
    return np.clip((e * recip + (np.int64(1) << (rs - 1))) >> rs, 0, 32767)


def lut(p: LutParams, x: Arr) -> Arr:
    return np.asarray(p.table, np.int8)[x.reshape(-1).view(np.uint8)]


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_l2norm_s8", ("tml_l2norm_s8.c", "tml_fixedpoint.c"), l2norm),
    KernelRow("tml_softmax_s8", ("tml_softmax_s8.c", "tml_fixedpoint.c"), softmax, gap=access.in_order),
    KernelRow("tml_softmax_s8_s16", ("tml_softmax_s8.c", "tml_fixedpoint.c"),  # no gap: int16 outputs
              lambda p, x: softmax(p, x, 16)),
    KernelRow("tml_softmax_s16", ("tml_s16.c",), softmax_s16),
    KernelRow("tml_log_softmax_s8", ("tml_log_softmax_s8.c", "tml_fixedpoint.c"), log_softmax),
    KernelRow("tml_logistic_s8", ("tml_logistic_s8.c", "tml_fixedpoint.c"), logistic, gap=access.in_order),
    KernelRow("tml_logistic_s16", ("tml_s16.c",), lambda p, x: sigmoid_s16(p, x, False), gap=access.in_order),
    KernelRow("tml_tanh_s8", ("tml_tanh_s8.c", "tml_fixedpoint.c"), tanh, gap=access.in_order),
    KernelRow("tml_tanh_s16", ("tml_s16.c",), lambda p, x: sigmoid_s16(p, x, True), gap=access.in_order),
    KernelRow("tml_hard_swish_s8", ("tml_hard_swish_s8.c",), hard_swish, gap=access.in_order),
    KernelRow("tml_leaky_relu_s8", ("tml_leaky_relu_s8.c",), leaky_relu, gap=access.in_order),
    KernelRow("tml_leaky_relu_s16", ("tml_leaky_relu_s8.c",),
              lambda p, x: np.clip(leaky_relu_values(p, x), -32768, 32767), gap=access.in_order),
    KernelRow("tml_clamp_s8", ("tml_clamp_s8.c",), clamp, gap=access.in_order),
    KernelRow("tml_lut_s8", ("tml_lut_s8.c",), lut, gap=access.in_order),
]}


def _torch(fn: Callable[[Any, Any, Any], Any]) -> Callable[[FloatCall], Any]:
    """A float execution `fn(torch, torch.nn.functional, call)`."""
    return lambda c: fn(*torch_modules(), c)


def _prelu_float(c: FloatCall) -> Any:
    torch, _ = torch_modules()
    alpha = c.operand(c.op.inputs[1])
    return torch.where(c.x >= 0, c.x, alpha * c.x)


# float execution on the PyTorch path
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {
    OpKind.SOFTMAX: _torch(lambda t, F, c: t.softmax(c.x * c.op.attrs.beta, dim=-1)),
    OpKind.LOGISTIC: _torch(lambda t, F, c: t.sigmoid(c.x)), OpKind.TANH: _torch(lambda t, F, c: t.tanh(c.x)),
    OpKind.HARD_SWISH: _torch(lambda t, F, c: F.hardswish(c.x)),
    OpKind.LEAKY_RELU: _torch(lambda t, F, c: F.leaky_relu(c.x, c.op.attrs.alpha)),
    OpKind.RELU: _torch(lambda t, F, c: F.relu(c.x)), OpKind.RELU6: _torch(lambda t, F, c: t.clamp(c.x, 0.0, 6.0)),
    OpKind.RSQRT: _torch(lambda t, F, c: t.rsqrt(c.x)), OpKind.PRELU: _prelu_float,
}
