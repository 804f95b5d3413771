"""Lowering of the operators with weights: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
BATCH_MATMUL, with the multipliers TFLM's Prepare() computes."""
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
    NO_TENSOR,
    ConvAttrs,
    DType,
    FullyConnectedAttrs,
    Graph,
    MatMulAttrs,
    Op,
    OpKind,
    Padding,
    Tensor,
)
from ..params import ConvParams, FullyConnectedParams, Kernel, KernelRow, MatMulParams, TransposeConvParams
from .common import (
    Arr,
    FloatCall,
    act_type,
    activation_range,
    broadcast_shape,
    check_bias,
    check_geometry,
    nhwc,
    out_size,
    per_channel_multipliers,
    require,
    require_int8,
    same_padding,
    same_pads,
    sat8,
    torch_modules,
    wsuffix,
)


def lower_conv(g: Graph, op: Op) -> list[Kernel]:
    x, w, b = g.op_inputs(op)[:3] + [None] * (3 - len(op.inputs[:3]))
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConvAttrs) and x is not None and w is not None
    act = act_type(op, x, y)
    require(w.dtype in (DType.INT8, DType.INT4) and w.quant is not None,
            f"{op.kind.value} weights '{w.name}' must be int8 or int4")
    if act == "s16":
        require(w.dtype is DType.INT8, f"16x8 {op.kind.value} needs int8 weights, got {w.dtype.value}")
        require(b is None or b.dtype is DType.INT64, f"16x8 {op.kind.value} bias must be int64 (as TFLM's)")
    else:
        require(b is None or b.dtype is DType.INT32, f"{op.kind.value} bias must be int32 (int8 activations)")
    require(all(z == 0 for z in w.quant.zero_point), f"{op.kind.value} weights must be symmetric (zero point 0)")
    a = op.attrs
    n, ih, iw, ic = nhwc(x.shape)
    _, oh, ow, oc = nhwc(y.shape)
    depthwise = op.kind is OpKind.DEPTHWISE_CONV_2D
    if depthwise:
        _, kh, kw, woc = w.shape
        fic = 1
        dm = oc // ic
        require(woc == oc and dm * ic == oc, f"depthwise filter shape {list(w.shape)} does not match channels")
    else:
        woc, kh, kw, fic = w.shape
        dm = 1
        require(woc == oc and ic % fic == 0, f"conv filter shape {list(w.shape)} does not match {list(x.shape)}")
    require(oh == out_size(a.padding, ih, kh, a.stride_h, a.dilation_h)
            and ow == out_size(a.padding, iw, kw, a.stride_w, a.dilation_w),
            f"{op.kind.value} output shape {list(y.shape)} is inconsistent with its input and attributes")
    mult, shift = per_channel_multipliers(x, w, y, oc)
    lo, hi = activation_range(a.activation, y)
    p = ConvParams(n, ih, iw, ic, oh, ow, oc, kh, kw, fic, dm, a.stride_h, a.stride_w, a.dilation_h, a.dilation_w,
                   same_padding(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
                   same_padding(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
                   -x.zero_point, y.zero_point, lo, hi, mult, shift)
    func = ("tml_depthwise_conv_" if depthwise else "tml_conv_") + (act if act == "s16" else wsuffix(w))
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def lower_fully_connected(g: Graph, op: Op) -> list[Kernel]:
    ins = g.op_inputs(op)
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, FullyConnectedAttrs) and x is not None and w is not None
    act = act_type(op, x, y)
    require(w.dtype in (DType.INT8, DType.INT4) and w.quant is not None and w.is_const,
            "FULLY_CONNECTED weights must be constant int8 or int4")
    if act == "s16":
        require(w.dtype is DType.INT8, f"16x8 FULLY_CONNECTED needs int8 weights, got {w.dtype.value}")
        require(b is None or b.dtype is DType.INT64, "16x8 FULLY_CONNECTED bias must be int64 (as TFLM's)")
    else:
        require(b is None or b.dtype is DType.INT32, "FULLY_CONNECTED bias must be int32 (int8 activations)")
    out_c, depth = w.shape
    batches = x.size // depth
    require(batches * depth == x.size, f"FULLY_CONNECTED input {list(x.shape)} is not a multiple of {depth}")
    per_channel = w.quant.per_channel
    if per_channel:
        mult, shift = per_channel_multipliers(x, w, y, out_c)
    else:
        m, s = quantize_multiplier(x.scale * w.scale / y.scale)
        mult, shift = (m,), (s,)
    lo, hi = activation_range(op.attrs.activation, y)
    p = FullyConnectedParams(batches, depth, out_c, -x.zero_point, -w.zero_point, y.zero_point, lo, hi,
                             int(per_channel), mult, shift)
    func = "tml_fully_connected_" + (act if act == "s16" else wsuffix(w))
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def lower_transpose_conv(g: Graph, op: Op) -> list[Kernel]:
    """TFLM transpose_conv.cc: padding from ComputePaddingHeightWidth over the *output* size, per-channel
    multipliers as CONV_2D, the fused activation's range."""
    ins = g.op_inputs(op)
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConvAttrs) and x is not None and w is not None
    require_int8(x, y)
    require(w.dtype is DType.INT8 and w.quant is not None and w.is_const,
            f"TRANSPOSE_CONV weights '{w.name}' must be constant int8")
    require(b is None or b.dtype is DType.INT32, "TRANSPOSE_CONV bias must be int32 (int8 activations)")
    require(all(z == 0 for z in w.quant.zero_point), "TRANSPOSE_CONV weights must be symmetric (zero point 0)")
    a = op.attrs
    n, ih, iw, ic = nhwc(x.shape)
    _, oh, ow, oc = nhwc(y.shape)
    woc, kh, kw, wic = w.shape
    require(woc == oc and wic == ic, f"TRANSPOSE_CONV filter shape {list(w.shape)} does not match {list(x.shape)} "
            f"-> {list(y.shape)}")
    mult, shift = per_channel_multipliers(x, w, y, oc)
    lo, hi = activation_range(a.activation, y)
    pad_h = same_padding(a.padding, oh, kh, a.stride_h, 1, out_size(a.padding, oh, kh, a.stride_h, 1))
    pad_w = same_padding(a.padding, ow, kw, a.stride_w, 1, out_size(a.padding, ow, kw, a.stride_w, 1))
    p = TransposeConvParams(n, ih, iw, ic, oh, ow, oc, kh, kw, a.stride_h, a.stride_w, pad_h, pad_w, -x.zero_point,
                            y.zero_point, lo, hi, mult, shift)
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel("tml_transpose_conv_s8", p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def lower_batch_matmul(g: Graph, op: Op) -> list[Kernel]:
    """TFLM batch_matmul.cc (int8): per-tensor quantization, multiplier s_lhs * s_rhs / s_out, no activation."""
    lhs, rhs = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
    y = g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, MatMulAttrs)
    require_int8(lhs, rhs, y)
    require(all(len(t.quant.scale) == 1 for t in (lhs, rhs, y)), "BATCH_MATMUL needs per-tensor quantization")
    require(2 <= len(lhs.shape) <= 5 and 2 <= len(rhs.shape) <= 5, "BATCH_MATMUL needs 2-D to 5-D operands")
    m, k = lhs.shape[-2:][::-1] if a.adj_x else lhs.shape[-2:]
    k2, n = rhs.shape[-2:][::-1] if a.adj_y else rhs.shape[-2:]
    require(k == k2, f"BATCH_MATMUL cannot multiply {list(lhs.shape)} by {list(rhs.shape)}")
    lb = (1,) * (5 - len(lhs.shape)) + tuple(lhs.shape[:-2])
    rb = (1,) * (5 - len(rhs.shape)) + tuple(rhs.shape[:-2])
    require(all(p == q or 1 in (p, q) for p, q in zip(lb, rb)),
            f"BATCH_MATMUL cannot broadcast the batch dimensions of {list(lhs.shape)} and {list(rhs.shape)}")
    batch = tuple(max(p, q) for p, q in zip(lb, rb))
    require(y.size == int(np.prod(batch)) * m * n, f"BATCH_MATMUL output {list(y.shape)} is not "
            f"{list(batch)} x {m} x {n}")

    def strides(dims: tuple[int, ...], block: int) -> tuple[int, ...]:
        out, acc = [0, 0, 0], block
        for d in (2, 1, 0):
            out[d] = acc if dims[d] != 1 else 0
            acc *= dims[d]
        return tuple(out)
    mult, shift = quantize_multiplier(lhs.scale * rhs.scale / y.scale)
    p = MatMulParams(batch[:3], strides(lb, m * k), strides(rb, k * n), m, n, k,
                     1 if a.adj_x else k, m if a.adj_x else 1, 1 if a.adj_y else n, k if a.adj_y else 1,
                     -lhs.zero_point, -rhs.zero_point, y.zero_point, mult, shift)
    return [Kernel("tml_batch_matmul_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.CONV_2D: lower_conv, OpKind.DEPTHWISE_CONV_2D: lower_conv, OpKind.FULLY_CONNECTED: lower_fully_connected,
    OpKind.TRANSPOSE_CONV: lower_transpose_conv, OpKind.BATCH_MATMUL: lower_batch_matmul,
}


def _check_conv_2d(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """CONV_2D, DEPTHWISE_CONV_2D."""
    assert isinstance(a, ConvAttrs)
    if len(ins) < 2 or ins[1] is None:
        fail(f"{where} has no weights")
    w = ins[1]
    assert w is not None
    if min(a.stride_h, a.stride_w, a.dilation_h, a.dilation_w) < 1:
        fail(f"{where} has stride {a.stride_h}x{a.stride_w} and dilation {a.dilation_h}x{a.dilation_w}; both "
             "must be at least 1")
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        fail(f"{where} needs 4-D input, weights and output; got {list(x.shape)}, {list(w.shape)}, "
             f"{list(out.shape)}")
    if op.kind is OpKind.CONV_2D:
        if w.shape[0] != out.shape[3] or x.shape[3] % w.shape[3]:
            fail(f"{where}: weights '{w.name}' {list(w.shape)} do not match input channels {x.shape[3]} and "
                 f"output channels {out.shape[3]}")
    else:
        if a.depth_multiplier < 1 or w.shape[0] != 1 or w.shape[3] != out.shape[3] or out.shape[3] % x.shape[3]:
            fail(f"{where}: weights '{w.name}' {list(w.shape)} do not match input channels {x.shape[3]}, "
                 f"output channels {out.shape[3]} and depth multiplier {a.depth_multiplier}")
    if x.shape[0] != out.shape[0]:
        fail(f"{where}: batch {x.shape[0]} in, {out.shape[0]} out")
    check_geometry(where, x.shape, out.shape, (w.shape[1], w.shape[2]), a, fail)
    check_bias(g, where, ins, out.shape[3], fail)


def _check_transpose_conv(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """TRANSPOSE_CONV."""
    assert isinstance(a, ConvAttrs)
    w = ins[1] if len(ins) > 1 else None
    if w is None or len(w.shape) != 4 or len(x.shape) != 4 or len(out.shape) != 4:
        fail(f"{where} needs 4-D input, weights and output")
    assert w is not None
    if min(a.stride_h, a.stride_w) < 1:
        fail(f"{where} has stride {a.stride_h}x{a.stride_w}; it must be at least 1")
    if w.shape[0] != out.shape[3] or w.shape[3] != x.shape[3] or x.shape[0] != out.shape[0]:
        fail(f"{where}: weights '{w.name}' {list(w.shape)} do not match input {list(x.shape)} and output "
             f"{list(out.shape)}")
    check_geometry(where, out.shape, x.shape, (w.shape[1], w.shape[2]), a, fail, transposed=True)
    check_bias(g, where, ins, out.shape[3], fail)


def _check_batch_matmul(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """BATCH_MATMUL."""
    assert isinstance(a, MatMulAttrs)
    y = ins[1] if len(ins) > 1 else None
    if y is None or not 2 <= len(x.shape) <= 5 or not 2 <= len(y.shape) <= 5:
        fail(f"{where} needs two operands of 2 to 5 dimensions")
    assert y is not None
    m, k = x.shape[-2:][::-1] if a.adj_x else x.shape[-2:]
    k2, n = y.shape[-2:][::-1] if a.adj_y else y.shape[-2:]
    batch = broadcast_shape(tuple(x.shape[:-2]), tuple(y.shape[:-2]))
    if k != k2 or batch is None or tuple(out.shape) != tuple(batch) + (m, n):
        fail(f"{where}: {list(x.shape)} (adj_x {a.adj_x}) times {list(y.shape)} (adj_y {a.adj_y}) does not give "
             f"{list(out.shape)}")


def _check_fully_connected(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """FULLY_CONNECTED."""
    if len(ins) < 2 or ins[1] is None or len(ins[1].shape) != 2:
        fail(f"{where} needs 2-D weights")
    w = ins[1]
    assert w is not None
    if w.shape[1] < 1 or x.size % w.shape[1] or not out.shape or out.shape[-1] != w.shape[0]:
        fail(f"{where}: weights '{w.name}' {list(w.shape)} do not match input {list(x.shape)} and output "
             f"{list(out.shape)}")
    if out.size != (x.size // w.shape[1]) * w.shape[0]:
        fail(f"{where}: output {list(out.shape)} has {out.size} values; {x.size // w.shape[1]} rows of "
             f"{w.shape[0]} were expected")
    check_bias(g, where, ins, w.shape[0], fail)


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.CONV_2D: _check_conv_2d, OpKind.DEPTHWISE_CONV_2D: _check_conv_2d,
    OpKind.TRANSPOSE_CONV: _check_transpose_conv, OpKind.BATCH_MATMUL: _check_batch_matmul,
    OpKind.FULLY_CONNECTED: _check_fully_connected,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def _requant_channels(acc: Arr, mult: tuple[int, ...], shift: tuple[int, ...], out_off: int, lo: int,
                      hi: int) -> Arr:
    """32-bit requantization of int8 kernels' accumulators; with an int16 output range (16x8), TFLM's 64-bit
    MultiplyByQuantizedMultiplier of the int64 accumulator."""
    m = np.asarray(mult, np.int64)
    s = np.asarray(shift, np.int64)
    if m.size == 1:
        m, s = m[0], s[0]
    if hi > 127:
        return sat8(fp.mbqm64(acc, m, s) + out_off, lo, hi)
    return sat8(fp.mbqm(fp.wrap32(acc), m, s) + out_off, lo, hi)


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


def batch_matmul(p: MatMulParams, lhs: Arr, rhs: Arr) -> Arr:
    """The plain product of the zero-point-corrected operands, batch dimensions broadcast by NumPy."""
    def operand(x: Arr, strides: tuple[int, ...], rows: int, cols: int, transposed: bool) -> Arr:
        dims = tuple(n if s else 1 for n, s in zip(p.batch, strides))
        x = x.reshape(dims + ((cols, rows) if transposed else (rows, cols))).astype(np.int64)
        return np.swapaxes(x, -1, -2) if transposed else x
    lm = operand(lhs, p.lhs_batch_stride, p.m, p.k, p.lhs_m_stride == 1 and p.m > 1) + p.lhs_offset
    rm = operand(rhs, p.rhs_batch_stride, p.k, p.n, p.rhs_n_stride == p.k and p.rhs_k_stride == 1 and p.n > 1)
    acc = lm @ (rm + p.rhs_offset)
    return sat8(fp.mbqm(fp.wrap32(acc), p.multiplier, p.shift) + p.output_offset)


def _conv(depthwise: bool) -> Callable[..., np.ndarray]:
    return lambda p, x, w, b: conv(p, x, w, b, depthwise)


_FC_BAND = ("tml_fully_connected_acc_s8", "tml_fully_connected_finish_s8")

# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_conv_s8", ("tml_conv_s8.c",), _conv(False), strided_output=True, gap=access.conv),
    KernelRow("tml_conv_s4", ("tml_conv_s8.c",), _conv(False), strided_output=True, gap=access.conv),
    KernelRow("tml_conv_s16", ("tml_s16.c",), _conv(False), gap=access.conv),
    KernelRow("tml_depthwise_conv_s8", ("tml_depthwise_conv_s8.c",), _conv(True), strided_output=True,
              gap=access.depthwise),
    KernelRow("tml_depthwise_conv_s4", ("tml_depthwise_conv_s8.c",), _conv(True), strided_output=True, gap=access.conv),
    KernelRow("tml_depthwise_conv_s16", ("tml_s16.c",), _conv(True), gap=access.conv),
    KernelRow("tml_depthwise_conv_inplace_s8", ("tml_depthwise_conv_inplace_s8.c",), gap=access.conv),
    KernelRow("tml_transpose_conv_s8", ("tml_transpose_conv_s8.c",), transpose_conv),
    KernelRow("tml_fully_connected_s8", ("tml_fully_connected_s8.c",), fully_connected, band=_FC_BAND),
    KernelRow("tml_fully_connected_s4", ("tml_fully_connected_s8.c",), fully_connected,
              band=("tml_fully_connected_acc_s4", "tml_fully_connected_finish_s8")),
    KernelRow("tml_fully_connected_s16", ("tml_s16.c",), fully_connected),
    KernelRow("tml_fully_connected_acc_s8", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_fully_connected_acc_s4", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_fully_connected_finish_s8", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_batch_matmul_s8", ("tml_batch_matmul_s8.c",), batch_matmul),
]}


def float_weighted(op: Op, x: Any, w: Any, b: Any, out_hw: tuple[int, ...] = ()) -> Any:
    """CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV (output height and width `out_hw`) or FULLY_CONNECTED of NHWC
    `x` with IR-layout weights, in float before the fused activation (the PyTorch path)."""
    _, F = torch_modules()
    a = op.attrs
    if op.kind is OpKind.FULLY_CONNECTED:
        if a.keep_num_dims:
            return F.linear(x, w, b)
        return F.linear(x.reshape(x.shape[0], -1) if x.dim() != 2 else x, w, b)
    if op.kind is OpKind.TRANSPOSE_CONV:  # TFLM: out[i * stride - pad + k] += x[i] * w[k], pad from the output size
        full = F.conv_transpose2d(x.permute(0, 3, 1, 2), w.permute(3, 0, 1, 2), None, (a.stride_h, a.stride_w))
        pads = [(same_pads(n, k, s, 1)[0] if a.padding is Padding.SAME else 0)
                for n, k, s in zip(out_hw, w.shape[1:3], (a.stride_h, a.stride_w))]
        full = F.pad(full, (0, max(0, pads[1] + out_hw[1] - full.shape[3]),
                            0, max(0, pads[0] + out_hw[0] - full.shape[2])))
        y = full[:, :, pads[0]:pads[0] + out_hw[0], pads[1]:pads[1] + out_hw[1]]
        return (y if b is None else y + b.reshape(1, -1, 1, 1)).permute(0, 2, 3, 1)
    xc = x.permute(0, 3, 1, 2)
    if op.kind is OpKind.DEPTHWISE_CONV_2D:
        wc, groups = w.permute(3, 0, 1, 2), x.shape[3]
    else:
        wc, groups = w.permute(0, 3, 1, 2), x.shape[3] // w.shape[3]
    if a.padding is Padding.SAME:
        ph = same_pads(xc.shape[2], wc.shape[2], a.stride_h, a.dilation_h)
        pw = same_pads(xc.shape[3], wc.shape[3], a.stride_w, a.dilation_w)
        xc = F.pad(xc, (pw[0], pw[1], ph[0], ph[1]))
    y = F.conv2d(xc, wc, b, (a.stride_h, a.stride_w), 0, (a.dilation_h, a.dilation_w), groups)
    return y.permute(0, 2, 3, 1)


def _batch_matmul_float(c: FloatCall) -> Any:
    torch, _ = torch_modules()
    a, y = c.op.attrs, c.get(c.op.inputs[1])
    return torch.matmul(c.x.transpose(-1, -2) if a.adj_x else c.x, y.transpose(-1, -2) if a.adj_y else y)


# float execution on the PyTorch path (the weighted operators: float_weighted, with their learnt weights)
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {OpKind.BATCH_MATMUL: _batch_matmul_float}


def _transpose_conv_macs(g: Graph, op: Op) -> int:
    """Every input value meets k_h x k_w x out_c weights."""
    w = g.tensor(op.inputs[1])
    return g.tensor(op.inputs[0]).size * w.shape[0] * w.shape[1] * w.shape[2]


def _window_macs(taps: slice) -> Callable[[Graph, Op], int]:
    """Every output value meets the weights of dimensions `taps` (of O x KH x KW x I, or 1 x KH x KW x C)."""
    return lambda g, op: g.tensor(op.outputs[0]).size * math.prod(g.tensor(op.inputs[1]).shape[taps])


# multiply-accumulates (tinyml.cost)
MACS: dict[OpKind, Callable[[Graph, Op], int]] = {
    OpKind.CONV_2D: _window_macs(slice(1, 4)), OpKind.DEPTHWISE_CONV_2D: _window_macs(slice(1, 3)),
    OpKind.FULLY_CONNECTED: _window_macs(slice(1, 2)), OpKind.TRANSPOSE_CONV: _transpose_conv_macs,
}
