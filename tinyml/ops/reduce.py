"""Lowering of pooling and reductions: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SUM, REDUCE_MAX, ARG_MAX, ARG_MIN."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import access
from .. import fixedpoint as fp
from ..fixedpoint import (
    quantize_multiplier,
)
from ..ir import (
    AxisAttrs,
    DType,
    Graph,
    MeanAttrs,
    Op,
    OpKind,
    Padding,
    PoolAttrs,
    Tensor,
)
from ..params import ArgParams, Kernel, KernelRow, MeanParams, PoolParams
from .common import (
    Arr,
    FloatCall,
    act_type,
    activation_range,
    check_axis,
    check_geometry,
    float_activation,
    nhwc,
    require,
    require_int8,
    same_padding,
    same_pads,
    sat8,
    torch_modules,
)


def lower_pool(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, PoolAttrs)
    act = act_type(op, x, y)
    require(x.quant == y.quant or (x.scale == y.scale and x.zero_point == y.zero_point),
            f"{op.kind.value} needs the same quantization on input and output")
    a = op.attrs
    n, ih, iw, c = nhwc(x.shape)
    _, oh, ow, _ = nhwc(y.shape)
    lo, hi = activation_range(a.activation, y)
    p = PoolParams(n, ih, iw, c, oh, ow, a.filter_h, a.filter_w, a.stride_h, a.stride_w,
                   same_padding(a.padding, ih, a.filter_h, a.stride_h, 1, oh),
                   same_padding(a.padding, iw, a.filter_w, a.stride_w, 1, ow), lo, hi)
    func = ("tml_avgpool_" if op.kind is OpKind.AVERAGE_POOL_2D else "tml_maxpool_") + act
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def lower_mean(g: Graph, op: Op) -> list[Kernel]:
    """MEAN, SUM (QuantizedMeanOrSum with compute_sum: no 1/n, never the plain path) and REDUCE_MAX."""
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, MeanAttrs)
    act = act_type(op, x, y)
    require(len(x.shape) <= 4, f"{op.kind.value} supports up to 4-D inputs, got {list(x.shape)}")
    pad = 4 - len(x.shape)
    dims = (1,) * pad + tuple(x.shape)
    red = tuple(1 if (d - pad) in op.attrs.axes else 0 for d in range(4))
    n = int(np.prod([dims[d] for d in range(4) if red[d]]))
    same = int(x.scale == y.scale and x.zero_point == y.zero_point)
    if op.kind is OpKind.REDUCE_MAX:
        require(bool(same), "REDUCE_MAX needs the same quantization on input and output (as TFLM requires)")
        return [Kernel("tml_reduce_max_s8", MeanParams(dims, red, n, 1, x.zero_point, y.zero_point, 0, 0),
                       (op.inputs[0], op.outputs[0]))]
    m, s = quantize_multiplier(x.scale / y.scale)
    if op.kind is OpKind.SUM:
        p = MeanParams(dims, red, n, 0, x.zero_point, y.zero_point, m, s)
        return [Kernel("tml_mean_s8", p, (op.inputs[0], op.outputs[0]))]
    if n > 0:  # fold 1/n into the multiplier as QuantizedMeanOrSum does
        shift = min(n.bit_length() - 1, 32, 31 + s)
        m = ((m << shift) // n) if m >= 0 else -((-m << shift) // n)
        s -= shift
    # TFLM's EvalIntegerMean runs QuantizedMeanOrSum (the multiplier with 1/n folded in, rounding) even when the
    # input and output quantization are equal: the tflite-micro interpreter does (older TFLM sources took a
    # truncating integer mean there; MobileNetV2's global MEAN over 4x4 differed by 1 in 102 of 1280 channels)
    p = MeanParams(dims, red, n, 0, x.zero_point, y.zero_point, int(m), int(s))
    return [Kernel("tml_mean_" + act, p, (op.inputs[0], op.outputs[0]))]


def lower_arg(g: Graph, op: Op) -> list[Kernel]:
    """ARG_MAX / ARG_MIN (TFLM arg_min_max.cc): the first index of the largest (smallest) stored int8 value along
    the axis, as int32."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, AxisAttrs)
    require_int8(x)
    require(y.dtype is DType.INT32, f"{op.kind.value} output must be int32, got {y.dtype.value} (TFLM does not "
            "run an int64 output either; convert with output_type=tf.int32)")
    xs = tuple(x.shape)
    p = ArgParams(int(np.prod(xs[:a.axis])), xs[a.axis], int(np.prod(xs[a.axis + 1:])))
    return [Kernel(f"tml_{op.kind.value.lower()}_s8", p, (op.inputs[0], op.outputs[0]))]


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.AVERAGE_POOL_2D: lower_pool, OpKind.MAX_POOL_2D: lower_pool, OpKind.MEAN: lower_mean,
    OpKind.SUM: lower_mean, OpKind.REDUCE_MAX: lower_mean, OpKind.ARG_MAX: lower_arg, OpKind.ARG_MIN: lower_arg,
}


def _check_average_pool_2d(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """AVERAGE_POOL_2D, MAX_POOL_2D."""
    assert isinstance(a, PoolAttrs)
    if min(a.filter_h, a.filter_w, a.stride_h, a.stride_w) < 1:
        fail(f"{where} has filter {a.filter_h}x{a.filter_w} and stride {a.stride_h}x{a.stride_w}; both must be "
             "at least 1")
    if len(x.shape) != 4 or len(out.shape) != 4 or x.shape[3] != out.shape[3] or x.shape[0] != out.shape[0]:
        fail(f"{where}: input {list(x.shape)} and output {list(out.shape)} must be 4-D with the same batch and "
             "channels")
    check_geometry(where, x.shape, out.shape, (a.filter_h, a.filter_w), a, fail)


def _check_mean(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """MEAN, SUM, REDUCE_MAX."""
    assert isinstance(a, MeanAttrs)
    if not a.axes or any(not -len(x.shape) <= ax < len(x.shape) for ax in a.axes):
        fail(f"{where} reduces axes {list(a.axes)} of a {len(x.shape)}-D input")
    axes = {ax % len(x.shape) for ax in a.axes}
    want = [1 if d in axes else n for d, n in enumerate(x.shape) if a.keep_dims or d not in axes]
    if math.prod(want) != out.size:
        fail(f"{where}: reducing axes {list(a.axes)} of {list(x.shape)} gives {want}, but its output is "
             f"{list(out.shape)}")


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.AVERAGE_POOL_2D: _check_average_pool_2d, OpKind.MAX_POOL_2D: _check_average_pool_2d,
    OpKind.ARG_MAX: check_axis, OpKind.ARG_MIN: check_axis, OpKind.MEAN: _check_mean, OpKind.SUM: _check_mean,
    OpKind.REDUCE_MAX: _check_mean,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

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
    return sat8(avg, p.act_min, p.act_max)


def maxpool(p: PoolParams, x: Arr) -> Arr:
    taps, _ = _pool_windows(p, x, -(1 << 20))
    return sat8(taps.max(axis=0), p.act_min, p.act_max)


def mean(p: MeanParams, x: Arr) -> Arr:
    xs = x.reshape(p.in_dims).astype(np.int64)
    axes = tuple(d for d in range(4) if p.reduce[d])
    s = xs.sum(axis=axes)
    if p.same_quant:
        q = np.where(s >= 0, s // p.num_elements, -((-s) // p.num_elements))
        return q  # the caller casts to the output's type (int8, or int16 for tml_mean_s16)
    shifted = fp.wrap32(s - p.input_zp * p.num_elements)
    wide = x.dtype == np.int16
    return sat8(fp.mbqm(shifted, p.multiplier, p.shift) + p.output_zp, *((-32768, 32767) if wide else (-128, 127)))


def reduce_max(p: MeanParams, x: Arr) -> Arr:
    return x.reshape(p.in_dims).max(axis=tuple(d for d in range(4) if p.reduce[d]))


def arg(x: Arr, p: ArgParams, fn: Callable[..., Arr]) -> Arr:
    return fn(x.reshape(p.outer, p.axis, p.inner), axis=1).astype(np.int32)  # NumPy's first index of ties too


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_avgpool_s8", ("tml_avgpool_s8.c",), avgpool, strided_output=True,
              band=("tml_channel_sum_acc_s8", "tml_avgpool_finish_s8"), gap=access.pool),
    KernelRow("tml_avgpool_s16", ("tml_s16.c",), avgpool, gap=access.pool),
    KernelRow("tml_maxpool_s8", ("tml_maxpool_s8.c",), maxpool, strided_output=True, gap=access.pool),
    KernelRow("tml_maxpool_s16", ("tml_s16.c",), maxpool, gap=access.pool),
    KernelRow("tml_channel_sum_acc_s8", ("tml_avgpool_s8.c",)),
    KernelRow("tml_avgpool_finish_s8", ("tml_avgpool_s8.c",)),
    KernelRow("tml_mean_s8", ("tml_mean_s8.c",), mean, band=("tml_channel_sum_acc_s8", "tml_mean_finish_s8"),
              gap=access.mean),
    KernelRow("tml_mean_s16", ("tml_s16.c",), mean, gap=access.mean),
    KernelRow("tml_mean_finish_s8", ("tml_mean_s8.c",)),
    KernelRow("tml_reduce_max_s8", ("tml_mean_s8.c",), reduce_max, gap=access.mean),
    KernelRow("tml_arg_max_s8", ("tml_arg_min_max_s8.c",), lambda p, x: arg(x, p, np.argmax)),
    KernelRow("tml_arg_min_s8", ("tml_arg_min_max_s8.c",), lambda p, x: arg(x, p, np.argmin)),
]}


def _pool_float(c: FloatCall, is_max: bool) -> Any:
    """AVERAGE_POOL_2D (padding taps not counted, as TFLite) and MAX_POOL_2D on NHWC, with the fused activation."""
    torch, F = torch_modules()
    a = c.op.attrs
    xc = c.x.permute(0, 3, 1, 2)
    ph = same_pads(xc.shape[2], a.filter_h, a.stride_h, 1) if a.padding is Padding.SAME else (0, 0)
    pw = same_pads(xc.shape[3], a.filter_w, a.stride_w, 1) if a.padding is Padding.SAME else (0, 0)
    k_, s_ = (a.filter_h, a.filter_w), (a.stride_h, a.stride_w)
    if is_max:
        y = F.max_pool2d(F.pad(xc, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf")), k_, s_)
    else:
        total = F.avg_pool2d(F.pad(xc, (pw[0], pw[1], ph[0], ph[1])), k_, s_)
        ones = F.pad(torch.ones_like(xc[:1, :1]), (pw[0], pw[1], ph[0], ph[1]))
        y = total / F.avg_pool2d(ones, k_, s_)
    return float_activation(y.permute(0, 2, 3, 1), a.activation)


# float execution on the PyTorch path
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {
    OpKind.AVERAGE_POOL_2D: lambda c: _pool_float(c, False), OpKind.MAX_POOL_2D: lambda c: _pool_float(c, True),
    OpKind.MEAN: lambda c: c.x.mean(dim=c.op.attrs.axes, keepdim=c.op.attrs.keep_dims),
}
