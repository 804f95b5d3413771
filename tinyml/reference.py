"""The NumPy semantics of every kernel with TFLM's integer arithmetic: the readable specification.

Each function takes a kernel's parameter dataclass (the same multipliers, shifts and ranges the generated C gets)
and its input arrays; the kernel registry (tinyml/kernels/registry.py) names the one for each C kernel and the
reference executor (tinyml/interpreter.py) runs them. A difference between the C and these is a bug in one C
kernel; a difference to TFLM is a bug in the lowering (`tinyml/ops/`) or here.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import fixedpoint as fp
from .params import (
    ArgParams,
    BinaryF32Params,
    BroadcastParams,
    CastParams,
    ClampParams,
    ConvParams,
    CopyParams,
    DequantizeParams,
    FullyConnectedParams,
    GatherParams,
    HardSwishParams,
    L2NormParams,
    LeakyReluParams,
    LogSoftmaxParams,
    LstmParams,
    LutParams,
    MatMulParams,
    MeanParams,
    PadParams,
    PermuteParams,
    PoolParams,
    QuantizeParams,
    RequantizeParams,
    ResizeBilinearParams,
    ResizeNearestParams,
    SelectParams,
    Sigmoid16Params,
    SigmoidParams,
    SoftmaxParams,
    SoftmaxS16Params,
    SpaceBatchParams,
    StridedSliceParams,
    SvdfParams,
    TransposeConvParams,
)

Arr = np.ndarray


def _sat8(v: Arr, lo: int = -128, hi: int = 127) -> Arr:
    """Clamp to [lo, hi] (an int8 range, or an int16 one for the 16x8 kernels: the caller casts to the output's
    type)."""
    return np.clip(v, lo, hi).astype(np.int8 if -128 <= lo and hi <= 127 else np.int16)


def _requant_channels(acc: Arr, mult: tuple[int, ...], shift: tuple[int, ...], out_off: int, lo: int,
                      hi: int) -> Arr:
    """32-bit requantization of int8 kernels' accumulators; with an int16 output range (16x8), TFLM's 64-bit
    MultiplyByQuantizedMultiplier of the int64 accumulator."""
    m = np.asarray(mult, np.int64)
    s = np.asarray(shift, np.int64)
    if m.size == 1:
        m, s = m[0], s[0]
    if hi > 127:
        return _sat8(fp.mbqm64(acc, m, s) + out_off, lo, hi)
    return _sat8(fp.mbqm(fp.wrap32(acc), m, s) + out_off, lo, hi)


def conv(p: ConvParams, x: Arr, w: Arr, b: Arr | None, depthwise: bool) -> Arr:
    x = x.reshape(p.batches, p.in_h, p.in_w, p.in_c).astype(np.int64) + p.input_offset
    eff_h, eff_w = (p.k_h - 1) * p.dil_h + 1, (p.k_w - 1) * p.dil_w + 1
    ph_after = max(0, (p.out_h - 1) * p.stride_h + eff_h - p.in_h - p.pad_h)
    pw_after = max(0, (p.out_w - 1) * p.stride_w + eff_w - p.in_w - p.pad_w)
    xp = np.pad(x, ((0, 0), (p.pad_h, ph_after), (p.pad_w, pw_after), (0, 0)))  # zeros == skipped taps
    acc = np.zeros((p.batches, p.out_h, p.out_w, p.out_c), np.int64)
    w = w.astype(np.int64)
    for ky in range(p.k_h):
        for kx in range(p.k_w):
            y0, x0 = ky * p.dil_h, kx * p.dil_w
            win = xp[:, y0: y0 + (p.out_h - 1) * p.stride_h + 1: p.stride_h,
                     x0: x0 + (p.out_w - 1) * p.stride_w + 1: p.stride_w, :]
            if depthwise:
                acc += np.repeat(win, p.depth_multiplier, axis=3) * w[0, ky, kx, :]
            else:
                groups = p.in_c // p.filter_in_c
                per = p.out_c // groups
                for gi in range(groups):
                    wg = w[gi * per:(gi + 1) * per, ky, kx, :]  # [per, fic]
                    xg = win[..., gi * p.filter_in_c:(gi + 1) * p.filter_in_c]
                    acc[..., gi * per:(gi + 1) * per] += xg @ wg.T
    if b is not None:
        acc += b.astype(np.int64)
    return _requant_channels(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def transpose_conv(p: TransposeConvParams, x: Arr, w: Arr, b: Arr | None) -> Arr:
    """TFLM's scatter: every input pixel adds its products into the output window it reaches (here a canvas
    with room for the whole scatter, cropped at the padding)."""
    x = x.reshape(p.batches, p.in_h, p.in_w, p.in_c).astype(np.int64) + p.input_offset
    w = w.astype(np.int64)
    full_h = max((p.in_h - 1) * p.stride_h + p.k_h, p.pad_h + p.out_h)
    full_w = max((p.in_w - 1) * p.stride_w + p.k_w, p.pad_w + p.out_w)
    acc = np.zeros((p.batches, full_h, full_w, p.out_c), np.int64)
    for ky in range(p.k_h):
        for kx in range(p.k_w):
            acc[:, ky: ky + (p.in_h - 1) * p.stride_h + 1: p.stride_h,
                kx: kx + (p.in_w - 1) * p.stride_w + 1: p.stride_w, :] += x @ w[:, ky, kx, :].T
    acc = acc[:, p.pad_h: p.pad_h + p.out_h, p.pad_w: p.pad_w + p.out_w, :]
    if b is not None:
        acc = acc + b.astype(np.int64)
    return _requant_channels(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def fully_connected(p: FullyConnectedParams, x: Arr, w: Arr, b: Arr | None) -> Arr:
    xi = x.reshape(p.batches, p.accum_depth).astype(np.int64) + p.input_offset
    acc = xi @ (w.astype(np.int64) + p.filter_offset).T
    if b is not None:
        acc += b.astype(np.int64)
    return _requant_channels(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def broadcast(p: BroadcastParams, a: Arr, b: Arr, dtype: type = np.int64) -> tuple[Arr, Arr]:
    shape = (p.d0, p.d1, p.d2, p.d3)
    a4 = np.broadcast_to(a.reshape([d if s else 1 for d, s in zip(shape, p.a_stride)]), shape)
    b4 = np.broadcast_to(b.reshape([d if s else 1 for d, s in zip(shape, p.b_stride)]), shape)
    return a4.astype(dtype), b4.astype(dtype)


def add(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    sa = fp.mbqm_lt_one(fp.wrap32((a4 + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    sb = fp.mbqm_lt_one(fp.wrap32((b4 + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    raw = fp.wrap32(sa - sb if p.is_sub else sa + sb)
    return _sat8(fp.mbqm_lt_one(raw, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def mul(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    prod = fp.wrap32((a4 + p.a_offset) * (b4 + p.b_offset))
    return _sat8(fp.mbqm(prod, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def _pool_windows(p: PoolParams, x: Arr, fill: int) -> tuple[Arr, Arr]:
    """Stack of the filter taps [taps, n, oh, ow, c] and a matching validity mask."""
    x = x.reshape(p.batches, p.in_h, p.in_w, p.channels).astype(np.int64)
    taps, masks = [], []
    oy = np.arange(p.out_h) * p.stride_h - p.pad_h
    ox = np.arange(p.out_w) * p.stride_w - p.pad_w
    for fy in range(p.filter_h):
        for fx in range(p.filter_w):
            iy, ix = oy + fy, ox + fx
            vy, vx = (iy >= 0) & (iy < p.in_h), (ix >= 0) & (ix < p.in_w)
            t = x[:, np.clip(iy, 0, p.in_h - 1)][:, :, np.clip(ix, 0, p.in_w - 1)]
            m = (vy[:, None] & vx[None, :])[None, :, :, None]
            taps.append(np.where(m, t, fill))
            masks.append(np.broadcast_to(m, t.shape))
    return np.stack(taps), np.stack(masks)


def avgpool(p: PoolParams, x: Arr) -> Arr:
    taps, masks = _pool_windows(p, x, 0)
    s = taps.sum(axis=0)
    cnt = masks.sum(axis=0).astype(np.int64)
    avg = np.where(s > 0, (s + cnt // 2) // cnt, -((-(s - cnt // 2)) // cnt))
    return _sat8(avg, p.act_min, p.act_max)


def maxpool(p: PoolParams, x: Arr) -> Arr:
    taps, _ = _pool_windows(p, x, -(1 << 20))
    return _sat8(taps.max(axis=0), p.act_min, p.act_max)


def mean(p: MeanParams, x: Arr) -> Arr:
    xs = x.reshape(p.in_dims).astype(np.int64)
    axes = tuple(d for d in range(4) if p.reduce[d])
    s = xs.sum(axis=axes)
    if p.same_quant:
        q = np.where(s >= 0, s // p.num_elements, -((-s) // p.num_elements))
        return q  # the caller casts to the output's type (int8, or int16 for tml_mean_s16)
    shifted = fp.wrap32(s - p.input_zp * p.num_elements)
    wide = x.dtype == np.int16
    return _sat8(fp.mbqm(shifted, p.multiplier, p.shift) + p.output_zp, *((-32768, 32767) if wide else (-128, 127)))


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
    return _sat8(leaky_relu_values(p, x))


def requantize(p: RequantizeParams, x: Arr) -> Arr:
    """Clamped to [act_min, act_max], the output type's range or an activation's (the caller casts)."""
    v = x.astype(np.int64) - p.input_zp
    return np.clip(fp.mbqm(v, p.multiplier, p.shift) + p.output_zp, p.act_min, p.act_max)


def clamp(p: ClampParams, x: Arr) -> Arr:
    return np.clip(x.astype(np.int64), p.lo, p.hi).astype(np.int8)


def pad(p: PadParams, x: Arr) -> Arr:
    out = np.full(p.out_dims, p.pad_value, x.dtype)
    sl = tuple(slice(b, b + d) for b, d in zip(p.before, p.in_dims))
    out[sl] = x.reshape(p.in_dims)
    return out


def quantize(p: QuantizeParams, x: Arr, wide: bool = False) -> Arr:
    q = np.float32(x) / np.float32(p.scale)
    r = np.where(q >= 0, np.floor(q.astype(np.float64) + 0.5), -np.floor(-q.astype(np.float64) + 0.5))
    r = np.clip(r, -(1 << 31), (1 << 31) - 1).astype(np.int64) + p.zero_point
    return np.clip(r, -32768, 32767) if wide else _sat8(r)


def quantize_values(x: Arr, scale: float, zero_point: int, wide: bool = False) -> Arr:
    """Real values to int8 (`wide`: int16) as TFLite does it (float32 division, round half away from zero, zero
    point, saturation): what `model_quantize_input_f32` in the generated model.c computes for int8."""
    q = quantize(QuantizeParams(int(np.size(x)), scale, zero_point), np.asarray(x, np.float32), wide=wide)
    return q.astype(np.int16) if wide else q


def quantize_to(x: Arr, scale: float, zero_point: int, dtype: np.dtype) -> Arr:
    """Real values to the integer type `dtype` (int8, uint8 or int16) as `quantize_values`, saturated to that
    type: what `model_quantize_input_f32` computes for an input of that type."""
    q = np.float32(np.asarray(x, np.float32)) / np.float32(scale)
    r = np.where(q >= 0, np.floor(q.astype(np.float64) + 0.5), -np.floor(-q.astype(np.float64) + 0.5))
    r = np.clip(np.nan_to_num(r), -(1 << 31), (1 << 31) - 1).astype(np.int64) + zero_point
    info = np.iinfo(dtype)
    return np.clip(r, info.min, info.max).astype(dtype)


def dequantize_values(y: Arr, scale: float, zero_point: int) -> Arr:
    """int8 (or uint8, int16) values to float32: (q - zero point) * scale in float32, as
    `model_dequantize_output_f32` does."""
    return (np.asarray(y).astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


def dequantize(p: DequantizeParams, x: Arr) -> Arr:
    return (p.scale * (x.astype(np.float64) - p.zero_point)).astype(np.float32)


def strided_slice(p: StridedSliceParams, x: Arr) -> Arr:
    x4 = x.reshape(p.in_dims)
    idx = tuple(b + s * np.arange(n) for b, s, n in zip(p.begin, p.stride, p.out_dims))
    return x4[np.ix_(*idx)]


def maximum(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    return np.maximum(a4, b4)  # the caller casts to the output's type (int8 or int16)


def minimum(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    return np.minimum(a4, b4)  # the caller casts to the output's type (int8 or int16)


def prelu(p: BroadcastParams, x: Arr, alpha: Arr) -> Arr:
    x4, a4 = broadcast(p, x, alpha)
    xv = x4 + p.a_offset
    pos = fp.mbqm(xv, p.a_multiplier, p.a_shift)
    neg = fp.mbqm(fp.wrap32(xv * (a4 + p.b_offset)), p.b_multiplier, p.b_shift)
    return _sat8(np.where(xv >= 0, pos, neg) + p.output_offset, -128, 127)


def permute(p: PermuteParams, x: Arr) -> Arr:
    flat = np.ascontiguousarray(x).reshape(-1)
    idx = np.zeros(p.out_dims, np.int64)
    for d, (n, s) in enumerate(zip(p.out_dims, p.in_stride)):
        shape = [1] * 6
        shape[d] = n
        idx = idx + (np.arange(n) * s).reshape(shape)
    return flat[idx.reshape(-1)]


def resize_nearest(p: ResizeNearestParams, x: Arr) -> Arr:
    x4 = np.ascontiguousarray(x).reshape(p.batches, p.in_h, p.in_w, -1)
    return x4[:, np.asarray(p.y_index)][:, :, np.asarray(p.x_index)]


def resize_bilinear(p: ResizeBilinearParams, x: Arr) -> Arr:
    x4 = x.reshape(p.batches, p.in_h, p.in_w, p.channels).astype(np.int64)
    y0, y1, x0, x1 = (np.asarray(v) for v in (p.y0, p.y1, p.x0, p.x1))
    dy = np.asarray(p.wy, np.int64)[None, :, None, None]
    dx = np.asarray(p.wx, np.int64)[None, None, :, None]
    v = (x4[:, y0][:, :, x0] * (1024 - dy) * (1024 - dx) + x4[:, y1][:, :, x0] * dy * (1024 - dx)
         + x4[:, y0][:, :, x1] * (1024 - dy) * dx + x4[:, y1][:, :, x1] * dy * dx)
    r = np.abs(v) + (1 << 19) >> 20  # round half away from zero, then the sign back
    return (np.sign(v) * r).astype(np.int8)


def squared_difference(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a, b = broadcast(p, a, b)
    sa = fp.mbqm_lt_one(fp.wrap32((a + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    sb = fp.mbqm_lt_one(fp.wrap32((b + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    d = sa - sb
    return _sat8(fp.mbqm(d * d, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def batch_matmul(p: MatMulParams, lhs: Arr, rhs: Arr) -> Arr:
    """The plain product of the zero-point-corrected operands, batch dimensions broadcast by NumPy."""
    def operand(x: Arr, strides: tuple[int, ...], rows: int, cols: int, transposed: bool) -> Arr:
        dims = tuple(n if s else 1 for n, s in zip(p.batch, strides))
        x = x.reshape(dims + ((cols, rows) if transposed else (rows, cols))).astype(np.int64)
        return np.swapaxes(x, -1, -2) if transposed else x
    lm = operand(lhs, p.lhs_batch_stride, p.m, p.k, p.lhs_m_stride == 1 and p.m > 1) + p.lhs_offset
    rm = operand(rhs, p.rhs_batch_stride, p.k, p.n, p.rhs_n_stride == p.k and p.rhs_k_stride == 1 and p.n > 1)
    acc = lm @ (rm + p.rhs_offset)
    return _sat8(fp.mbqm(fp.wrap32(acc), p.multiplier, p.shift) + p.output_offset)


def reduce_max(p: MeanParams, x: Arr) -> Arr:
    return x.reshape(p.in_dims).max(axis=tuple(d for d in range(4) if p.reduce[d]))


def arg(x: Arr, p: ArgParams, fn: Callable[..., Arr]) -> Arr:
    return fn(x.reshape(p.outer, p.axis, p.inner), axis=1).astype(np.int32)  # NumPy's first index of ties too


def gather(p: GatherParams, x: Arr, idx: Arr) -> Arr:
    blocks = x.reshape(-1).view(np.uint8).reshape(p.outer, p.axis, p.inner_bytes)
    i = idx.reshape(-1).astype(np.int64)
    ok = (i >= 0) & (i < p.axis)
    out = blocks[:, np.where(ok, i, 0)] * ok[None, :, None].astype(np.uint8)
    return out.reshape(-1).view(x.dtype)


def div(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a, b = broadcast(p, a, b)
    x, d = a.astype(np.int64) + p.a_offset, b.astype(np.int64) + p.b_offset
    x, d = np.where(d < 0, -x, x), np.abs(d)
    inv, recip_shift = fp.reciprocal(d, 31)
    headroom = fp.clz32(np.where(x < 0, ~x, x)) - 1  # CountLeadingSignBits
    q = fp.mbqm_gt_one(x, inv, headroom)
    h = fp.srdhm(q, p.output_multiplier)
    e = recip_shift + headroom - p.output_shift  # >= 32: the oracle's shift count modulo 32 (see tml_div_s8.c)
    r = np.where(e < 32, fp.rdbp(h, np.minimum(e, 31)), (h >> (e & 31)) + (h >= 0))
    out = np.clip(p.output_offset + r, -128, 127)
    return _sat8(out, p.act_min, p.act_max)


def l2norm(p: L2NormParams, x: Arr) -> Arr:
    rows = x.reshape(p.outer, p.depth).astype(np.int64) - p.input_zp
    out = np.empty_like(rows)
    for r, v in enumerate(rows):
        m, shift = fp.inv_sqrt_multiplier_exp(int((v * v).sum()), -1)
        out[r] = fp.mbqm(v, m, shift + 7)
    return _sat8(out)


def compare(p: BroadcastParams, a: Arr, b: Arr, fn: Callable[[Arr, Arr], Arr]) -> Arr:
    """TFLM's *WithScaling comparisons: each operand less its zero point, shifted left, scaled by its own
    multiplier, then compared."""
    a4, b4 = broadcast(p, a, b)
    x = fp.mbqm_lt_one(fp.wrap32((a4 + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    y = fp.mbqm_lt_one(fp.wrap32((b4 + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    return fn(x, y)


def _strided(v: Arr, d: tuple[int, ...], strides: tuple[int, ...]) -> Arr:
    """`v` (flat) read as the 4-D shape `d` through element strides (0: broadcast)."""
    idx = sum(np.arange(n).reshape([-1 if k == j else 1 for k in range(4)]) * s
              for j, (n, s) in enumerate(zip(d, strides)))
    return v.reshape(-1)[idx]


def compare_f32(fn: Callable[[Arr, Arr], Arr]) -> Callable[..., Arr]:
    """A float32 comparison (IEEE, values as they are) over BroadcastParams' broadcasting."""
    return lambda p, a, b: fn(*broadcast(p, a, b, np.float32))


def compare_s8(fn: Callable[[Arr, Arr], Arr]) -> Callable[..., Arr]:
    return lambda p, a, b: compare(p, a, b, fn)


COMPARISONS = (("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
                ("less_equal", np.less_equal), ("greater", np.greater), ("greater_equal", np.greater_equal))


def binary_f32(p: BinaryF32Params, a: Arr, b: Arr, fn: Callable[[Arr, Arr], Arr]) -> Arr:
    """One IEEE single-precision operation per element (NumPy float32 arithmetic), clamped as TFLM's
    ActivationFunctionWithMinMax (a NaN stays NaN)."""
    v = fn(_strided(a.astype(np.float32), p.d, p.a_stride), _strided(b.astype(np.float32), p.d, p.b_stride))
    lo, hi = np.float32(p.act_min), np.float32(p.act_max)
    return np.where(v < lo, lo, np.where(v > hi, hi, v)).astype(np.float32)


def space_batch(p: SpaceBatchParams, x: Arr, to_batch: bool) -> Arr:
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND on pixels of `pixel` bytes (TFLM's loops; the padding written
    bytewise, as its memset)."""
    src = np.ascontiguousarray(x).reshape(-1).view(np.uint8).reshape(p.in_b, p.in_h, p.in_w, p.pixel)
    out = np.full((p.out_b, p.out_h, p.out_w, p.pixel), p.pad_value & 0xFF, np.uint8)
    if to_batch:
        for b in range(p.out_b):
            n, sw, sh = b % p.in_b, (b // p.in_b) % p.block_w, (b // p.in_b) // p.block_w
            for yy in range(p.out_h):
                iy = yy * p.block_h + sh - p.pad_top
                if 0 <= iy < p.in_h:
                    ix = np.arange(p.out_w) * p.block_w + sw - p.pad_left
                    ok = (ix >= 0) & (ix < p.in_w)
                    out[b, yy, ok] = src[n, iy, ix[ok]]
    else:
        for b in range(p.in_b):
            n, off = b % p.out_b, b // p.out_b
            for yy in range(p.in_h):
                oy = yy * p.block_h + off // p.block_w - p.pad_top
                if 0 <= oy < p.out_h:
                    ox = np.arange(p.in_w) * p.block_w + off % p.block_w - p.pad_left
                    ok = (ox >= 0) & (ox < p.out_w)
                    out[n, oy, ox[ok]] = src[b, yy, ok]
    return out.reshape(-1).view(x.dtype)


_CAST_TYPES = (np.int8, np.uint8, np.int16, np.int32, np.float32, np.bool_)


def cast(p: CastParams, x: Arr) -> Arr:
    """C's conversions: integers wrap to a narrower integer type, to float32 round to nearest, to bool != 0."""
    if p.out_code == 5:
        return x != 0
    v = x.astype(np.int64) if p.in_code != 4 else x
    return v.astype(_CAST_TYPES[p.out_code])


def copy_into(p: CopyParams, x: Arr, *, out: Arr) -> None:
    """`x` as `outer` blocks of `block` bytes, written `dst_stride` bytes apart from `dst_offset` into `out`."""
    flat = out.reshape(-1).view(np.uint8)
    src = x.reshape(-1).view(np.uint8).reshape(p.outer, p.block)
    flat.reshape(p.outer, p.dst_stride)[:, p.dst_offset:p.dst_offset + p.block] = src


def select(p: SelectParams, c: Arr, x: Arr, y: Arr) -> Arr:
    return np.where(_strided(c, p.d, p.c_stride).astype(bool), _strided(x, p.d, p.x_stride),
                    _strided(y, p.d, p.y_stride))


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


def _wrap(v: Arr, bits: int) -> Arr:
    """Two's complement narrowing to `bits` (what TFLM's store into an int8/int16 state does)."""
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def svdf(p: SvdfParams, x: Arr, wf: Arr, wt: Arr, bias: Arr, state: Arr, bits: int) -> Arr:
    """SVDF on `state` ([batches * filters * memory], updated in place): the tflite-micro interpreter's integer
    reference. The feature matmul is requantized, clamped to the state type, then the state zero point is added
    and the sum stored with two's complement wrap-around (the order of the interpreter tinyml tests against;
    newer TFLM sources add the zero point before the clamp, which differs only where the sum leaves the type)."""
    state[:-1] = state[1:].copy()
    st = state.reshape(p.batches, p.filters, p.memory)
    acc = (x.reshape(p.batches, p.input_size).astype(np.int64) + p.input_offset) @ wf.astype(np.int64).T
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    st[:, :, -1] = _wrap(np.clip(fp.mbqm(fp.wrap32(acc), p.multiplier1, p.shift1), lo, hi) + p.state_zero_point,
                          bits)
    t = ((st - p.state_zero_point) * wt.astype(np.int64)[None]).sum(-1)
    units = p.filters // p.rank
    o = t.reshape(p.batches, units, p.rank).sum(-1) + bias.astype(np.int64)[None]
    return np.clip(fp.mbqm(fp.wrap32(o), p.multiplier2, p.shift2) + p.output_offset, -128, 127)


def _sat16(v: Arr) -> Arr:
    return np.clip(v, -32768, 32767)


def lstm(p: LstmParams, x: Arr, weights: list[Arr], biases: list[Arr], hidden: Arr, cell: Arr) -> Arr:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM's integer lstm_eval) over all time steps, `hidden` ([batches * units],
    int8 values) and `cell` (int16 values) updated in place; returns the output ([batch, time, units], or
    [time, batch, units] when time major). Each batch runs its own sequence; every step is elementwise per unit
    after the two FCs, in TFLM's order."""
    shape = (p.time_steps, p.batches) if p.time_major else (p.batches, p.time_steps)
    xs = x.reshape(shape + (p.input_size,)).astype(np.int64)
    y = np.zeros(shape + (p.units,), np.int64)
    w_in = [w.astype(np.int64) for w in weights[:4]]
    w_rec = [w.astype(np.int64) for w in weights[4:]]
    h = hidden.reshape(p.batches, p.units)
    c = cell.reshape(p.batches, p.units)
    for b in range(p.batches):
        for t in range(p.time_steps):
            xt = (xs[t, b] if p.time_major else xs[b, t]) + p.input_offset
            ht = h[b] + p.hidden_offset
            gates = []
            for k in range(4):  # input, forget, cell, output
                a = _sat16(fp.mbqm(fp.wrap32(w_in[k] @ xt + biases[k].astype(np.int64)), p.input_multiplier[k],
                                   p.input_shift[k]))
                r = _sat16(fp.mbqm(fp.wrap32(w_rec[k] @ ht), p.recurrent_multiplier[k], p.recurrent_shift[k]))
                gates.append(fp.sigmoid16(_sat16(a + r), 3, 0, tanh=k == 2))
            i_g, f_g, c_g, o_g = gates
            cb = _sat16(fp.mbqm(f_g * c[b], p.forget_multiplier, p.forget_shift))
            cb = _sat16(cb + _sat16(fp.mbqm(i_g * c_g, p.update_multiplier, p.update_shift)))
            if p.cell_clip > 0:
                cb = np.clip(cb, -p.cell_clip, p.cell_clip)
            c[b] = cb
            tc = fp.sigmoid16(cb, p.cell_tanh_multiplier, p.cell_tanh_shift, tanh=True)
            h[b] = np.clip(fp.mbqm(tc * o_g, p.hidden_multiplier, p.hidden_shift) + p.hidden_zero_point, -128, 127)
            if p.time_major:
                y[t, b] = h[b]
            else:
                y[b, t] = h[b]
    return y
