"""Import a `.tflite` flatbuffer into `tinyml.ir.Graph`, using the `tflite` package's schema bindings.

One table maps each supported builtin operator to its `OpKind` and to a function building its typed
attributes; everything else is rejected with the op's name, its index and the supported list.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tflite

from ..errors import TinymlError, UnsupportedOpError
from ..fold import fold, foldable
from ..ir import (
    NO_TENSOR,
    Activation,
    Attrs,
    AxisAttrs,
    BlockAttrs,
    ConcatAttrs,
    ConvAttrs,
    DType,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    Graph,
    LeakyReluAttrs,
    LstmAttrs,
    MatMulAttrs,
    MeanAttrs,
    MirrorPadAttrs,
    NoAttrs,
    Op,
    OpKind,
    PadAttrs,
    Padding,
    PoolAttrs,
    Quant,
    ResizeAttrs,
    ShapeAttrs,
    SliceAttrs,
    SoftmaxAttrs,
    SpaceBatchAttrs,
    SvdfAttrs,
    Tensor,
    TransposeAttrs,
    unpack_int4,
)
from ..optable import reason
from . import read_model

_TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: DType.FLOAT32, tflite.TensorType.INT8: DType.INT8,
    tflite.TensorType.UINT8: DType.UINT8, tflite.TensorType.INT16: DType.INT16,
    tflite.TensorType.INT32: DType.INT32, tflite.TensorType.INT64: DType.INT64,
    tflite.TensorType.BOOL: DType.BOOL, getattr(tflite.TensorType, "INT4", 17): DType.INT4,
}
_ACTIVATIONS = {
    tflite.ActivationFunctionType.NONE: Activation.NONE, tflite.ActivationFunctionType.RELU: Activation.RELU,
    tflite.ActivationFunctionType.RELU_N1_TO_1: Activation.RELU_N1_TO_1,
    tflite.ActivationFunctionType.RELU6: Activation.RELU6,
}
_PADDING = {tflite.Padding.SAME: Padding.SAME, tflite.Padding.VALID: Padding.VALID}
_BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _opts(op: tflite.Operator, cls: type) -> object:
    table = op.BuiltinOptions()
    obj = cls()
    if table is None:
        raise TinymlError(f"operator options missing for {cls.__name__}")
    obj.Init(table.Bytes, table.Pos)
    return obj


def _activation(code: int) -> Activation:
    if code not in _ACTIVATIONS:
        raise UnsupportedOpError(f"fused activation function code {code} is not supported (NONE, RELU, "
                                 "RELU_N1_TO_1 and RELU6 are)")
    return _ACTIVATIONS[code]


def _conv(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.Conv2DOptions)
    return ConvAttrs(o.StrideH(), o.StrideW(), o.DilationHFactor(), o.DilationWFactor(), _PADDING[o.Padding()],
                     _activation(o.FusedActivationFunction()))


def _depthwise(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.DepthwiseConv2DOptions)
    return ConvAttrs(o.StrideH(), o.StrideW(), o.DilationHFactor(), o.DilationWFactor(), _PADDING[o.Padding()],
                     _activation(o.FusedActivationFunction()), depth_multiplier=o.DepthMultiplier())


def _fully_connected(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.FullyConnectedOptions)
    if o.WeightsFormat() != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise UnsupportedOpError("FULLY_CONNECTED with shuffled weights is not supported")
    return FullyConnectedAttrs(_activation(o.FusedActivationFunction()), bool(o.KeepNumDims()))


def _pool(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.Pool2DOptions)
    return PoolAttrs(o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW(), _PADDING[o.Padding()],
                     _activation(o.FusedActivationFunction()))


def _elementwise(cls: type) -> Callable[[tflite.Operator, list[Tensor]], Attrs]:
    def build(op: tflite.Operator, _: list[Tensor]) -> Attrs:
        if op.BuiltinOptions() is None:
            return ElementwiseAttrs(Activation.NONE)
        return ElementwiseAttrs(_activation(_opts(op, cls).FusedActivationFunction()))  # type: ignore[attr-defined]
    return build


def _softmax(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    return SoftmaxAttrs(float(_opts(op, tflite.SoftmaxOptions).Beta()))  # type: ignore[attr-defined]


def _leaky_relu(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    return LeakyReluAttrs(float(_opts(op, tflite.LeakyReluOptions).Alpha()))  # type: ignore[attr-defined]


def _concat(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.ConcatenationOptions)
    axis = o.Axis()  # type: ignore[attr-defined]
    rank = len(ins[0].shape)
    return ConcatAttrs(axis + rank if axis < 0 else axis, _activation(o.FusedActivationFunction()))  # type: ignore


def _mean(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.ReducerOptions)
    if ins[1] is None or ins[1].data is None:
        raise UnsupportedOpError("a reduction (MEAN, SUM, REDUCE_MAX) with a non-constant axis tensor is not "
                                 "supported")
    rank = len(ins[0].shape)
    axes = tuple(sorted({int(a) + rank if a < 0 else int(a) for a in ins[1].data.reshape(-1)}))
    return MeanAttrs(axes, bool(o.KeepDims()))  # type: ignore[attr-defined]


def _arg(cls: type) -> Callable[[tflite.Operator, list[Tensor]], Attrs]:
    def build(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
        axis = _const_ints(ins[1] if len(ins) > 1 else None, "ARG_MAX/ARG_MIN's axis")
        if len(axis) != 1:
            raise TinymlError(f"ARG_MAX/ARG_MIN has {len(axis)} axes; it takes one")
        rank = len(ins[0].shape) if ins and ins[0] is not None else 1
        return AxisAttrs(axis[0] + rank if axis[0] < 0 else axis[0])
    return build


def _gather(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    o = _opts(op, tflite.GatherOptions)
    if o.BatchDims() != 0:  # type: ignore[attr-defined]
        raise UnsupportedOpError(f"GATHER with batch_dims {o.BatchDims()} is not supported (batch_dims 0 is)")  # type: ignore[attr-defined]
    rank = len(ins[0].shape) if ins and ins[0] is not None else 1
    axis = int(o.Axis())  # type: ignore[attr-defined]
    return AxisAttrs(axis + rank if axis < 0 else axis)


def _pad(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    if ins[1] is None or ins[1].data is None:
        raise UnsupportedOpError("PAD with non-constant paddings is not supported")
    p = ins[1].data.reshape(-1, 2)
    return PadAttrs(tuple((int(a), int(b)) for a, b in p))


def _mirror_pad(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    if len(ins) < 2 or ins[1] is None or ins[1].data is None:
        raise UnsupportedOpError("MIRROR_PAD with non-constant paddings is not supported")
    p = ins[1].data.reshape(-1, 2)
    mode = _opts(op, tflite.MirrorPadOptions).Mode()  # type: ignore[attr-defined]
    return MirrorPadAttrs(tuple((int(a), int(b)) for a, b in p), mode == tflite.MirrorPadMode.SYMMETRIC)


def _space_batch(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """SPACE_TO_BATCH_ND (input, block shape, paddings) and BATCH_TO_SPACE_ND (input, block shape, crops)."""
    block = _const_ints(ins[1] if len(ins) > 1 else None, "the block shape")
    pads = _const_ints(ins[2] if len(ins) > 2 else None, "the paddings (crops)")
    if len(pads) != 2 * len(block):
        raise TinymlError(f"{len(block)} block sizes but {len(pads)} paddings; the file is corrupt")
    return SpaceBatchAttrs(tuple(block), tuple((pads[2 * d], pads[2 * d + 1]) for d in range(len(block))))


def _strided_slice(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """TFLite's StartForAxis/StopForAxis: masks, negative indices and clamping resolved per dimension."""
    o = _opts(op, tflite.StridedSliceOptions)
    if o.EllipsisMask() or o.NewAxisMask():  # type: ignore[attr-defined]
        raise UnsupportedOpError("STRIDED_SLICE with an ellipsis or new-axis mask is not supported")
    if any(t is None or t.data is None for t in ins[1:4]) or len(ins) < 4:
        raise UnsupportedOpError("STRIDED_SLICE with non-constant begin/end/strides is not supported")
    shape = ins[0].shape
    begin, end, strides = (ins[k].data.reshape(-1).astype(np.int64) for k in (1, 2, 3))  # type: ignore[union-attr]
    bm, em, sm = o.BeginMask(), o.EndMask(), o.ShrinkAxisMask()  # type: ignore[attr-defined]
    offset = bool(o.Offset()) if hasattr(o, "Offset") else False  # type: ignore[attr-defined]
    starts, sizes = [], []
    for d, n in enumerate(shape):
        s = int(strides[d]) if d < len(strides) else 1
        if s == 0:
            raise UnsupportedOpError("STRIDED_SLICE with a zero stride")
        lo, hi = (0, n) if s > 0 else (-1, n - 1)
        if d >= len(begin) or bm >> d & 1:
            start = 0 if s > 0 else n - 1
        else:
            start = int(begin[d]) + (n if begin[d] < 0 else 0)
            start = min(max(start, lo), hi)
        if sm >> d & 1:
            stop = start + 1
        elif d >= len(end) or em >> d & 1:
            stop = n if s > 0 else -1
        else:
            stop = int(end[d]) + (int(begin[d]) if offset else 0)
            stop = stop + (n if stop < 0 and not offset else 0)
            stop = min(max(stop, lo), hi)
        starts.append(start)
        sizes.append(max(0, -(-(stop - start) // s)))
    return SliceAttrs(tuple(starts), tuple(sizes), tuple(int(strides[d]) if d < len(strides) else 1
                                                          for d in range(len(shape))), bm, em, sm)


def _shape(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    out = _opts(op, tflite.ShapeOptions).OutType() if op.BuiltinOptions() is not None else 2  # type: ignore
    if _TENSOR_TYPES.get(out) not in (DType.INT32, DType.INT64):
        raise UnsupportedOpError(f"SHAPE with output type code {out} is not supported (int32 and int64 are)")
    return ShapeAttrs(_TENSOR_TYPES[out])


def _slice(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """SLICE (begin and size constants, size -1: to the end) as the STRIDED_SLICE with unit strides it is."""
    if len(ins) < 3 or ins[0] is None:
        raise TinymlError(f"SLICE has {len(ins)} inputs; it needs 3 (input, begin, size); the file is corrupt")
    begin, size = _const_ints(ins[1], "SLICE's begin"), _const_ints(ins[2], "SLICE's size")
    shape = ins[0].shape
    if len(begin) != len(shape) or len(size) != len(shape):
        raise TinymlError(f"SLICE's begin {begin} and size {size} do not match its {len(shape)}-D input; the file "
                          "is corrupt")
    size = [n - b if z == -1 else z for b, z, n in zip(begin, size, shape)]
    return SliceAttrs(tuple(begin), tuple(size), (1,) * len(shape))


def _none(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    return NoAttrs()


def _const_ints(t: Tensor | None, what: str) -> list[int]:
    if t is None or t.data is None:
        raise UnsupportedOpError(f"{what} must be a constant tensor")
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _transpose(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    perm = _const_ints(ins[1] if len(ins) > 1 else None, "TRANSPOSE's permutation")
    rank = len(ins[0].shape) if ins and ins[0] is not None else len(perm)
    return TransposeAttrs(tuple(p + rank if p < 0 else p for p in perm))


def _block(cls: type) -> Callable[[tflite.Operator, list[Tensor]], Attrs]:
    def build(op: tflite.Operator, _: list[Tensor]) -> Attrs:
        return BlockAttrs(int(_opts(op, cls).BlockSize()))  # type: ignore[attr-defined]
    return build


def _resize(cls: type, name: str) -> Callable[[tflite.Operator, list[Tensor]], Attrs]:
    def build(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
        o = _opts(op, cls)
        _const_ints(ins[1] if len(ins) > 1 else None, f"{name}'s output size")
        return ResizeAttrs(bool(o.AlignCorners()), bool(o.HalfPixelCenters()))  # type: ignore[attr-defined]
    return build


def _batch_matmul(op: tflite.Operator, _: list[Tensor]) -> Attrs:
    if op.BuiltinOptions() is None:
        return MatMulAttrs(False, False)
    o = _opts(op, tflite.BatchMatMulOptions)
    return MatMulAttrs(bool(o.AdjX()), bool(o.AdjY()))  # type: ignore[attr-defined]


def _transpose_conv(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """TRANSPOSE_CONV's inputs are (output shape, weights, input[, bias]); the importer reorders them to
    (input, weights[, bias]) like CONV_2D's, after checking that the output shape constant is the output's."""
    o = _opts(op, tflite.TransposeConvOptions)
    _const_ints(ins[0] if ins else None, "TRANSPOSE_CONV's output shape")
    return ConvAttrs(o.StrideH(), o.StrideW(), 1, 1, _PADDING[o.Padding()],  # type: ignore[attr-defined]
                     _activation(o.FusedActivationFunction()))  # type: ignore[attr-defined]


def _svdf(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """SVDF: input 4 is the activation state (a variable tensor); its type and quantization become attributes
    and the importer drops it from the inputs (see SvdfAttrs)."""
    o = _opts(op, tflite.SVDFOptions)
    if len(ins) != 5 or ins[4] is None:
        raise TinymlError(f"SVDF has {len(ins)} inputs; it needs 5 (input, feature weights, time weights, bias, "
                          "activation state); the file is corrupt")
    st = ins[4]
    scale, zp = st.quant.scalar() if st.quant is not None else (0.0, 0)
    return SvdfAttrs(int(o.Rank()), _activation(o.FusedActivationFunction()),  # type: ignore[attr-defined]
                     st.dtype, float(scale), int(zp), st.name)


LSTM_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8)  # input and recurrent weights, gates in order (input, forget, cell, output)
LSTM_BIASES = (12, 13, 14, 15)
LSTM_VARIANTS = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection", 17: "projection",
                 20: "layer norm", 21: "layer norm", 22: "layer norm", 23: "layer norm"}


def _lstm(op: tflite.Operator, ins: list[Tensor]) -> Attrs:
    """UNIDIRECTIONAL_SEQUENCE_LSTM, as TFLM's integer kernel takes it: 24 inputs, of which the peephole,
    projection and layer-norm ones must be absent and all four gates present (no CIFG); inputs 18 (hidden) and
    19 (cell) are the variable states, which become attributes (see LstmAttrs)."""
    o = _opts(op, tflite.UnidirectionalSequenceLSTMOptions)
    if len(ins) != 24:
        raise TinymlError(f"UNIDIRECTIONAL_SEQUENCE_LSTM has {len(ins)} inputs; it needs 24; the file is corrupt")
    variants = sorted({v for k, v in LSTM_VARIANTS.items() if ins[k] is not None})
    if variants:
        raise UnsupportedOpError(f"an LSTM with {' and '.join(variants)} is not supported (TFLM's integer LSTM "
                                 "refuses it too)")
    if any(ins[k] is None for k in (0, *LSTM_WEIGHTS, *LSTM_BIASES, 18, 19)):
        raise UnsupportedOpError("an LSTM without an input gate (CIFG) or without biases is not supported (TFLM's "
                                 "integer LSTM needs all four gates' weights and biases)")
    act = o.FusedActivationFunction()  # type: ignore[attr-defined]
    if act != tflite.ActivationFunctionType.TANH:
        raise UnsupportedOpError(f"an LSTM whose cell gate uses activation code {act} is not supported (TANH is; "
                                 "TFLM's kernel runs no other)")
    h, c = ins[18], ins[19]
    hs, hz = h.quant.scalar() if h.quant is not None else (0.0, 0)
    cs, _ = c.quant.scalar() if c.quant is not None else (0.0, 0)
    return LstmAttrs("tanh", float(o.CellClip()), bool(o.TimeMajor()), float(hs), int(hz), float(cs),  # type: ignore
                     h.name, c.name)


# builtin operator name -> (kind, attribute builder)
BUILDERS: dict[str, tuple[OpKind, Callable[[tflite.Operator, list[Tensor]], Attrs]]] = {
    "CONV_2D": (OpKind.CONV_2D, _conv),
    "DEPTHWISE_CONV_2D": (OpKind.DEPTHWISE_CONV_2D, _depthwise),
    "FULLY_CONNECTED": (OpKind.FULLY_CONNECTED, _fully_connected),
    "ADD": (OpKind.ADD, _elementwise(tflite.AddOptions)),
    "ADD_N": (OpKind.ADD_N, _none),
    "SUB": (OpKind.SUB, _elementwise(tflite.SubOptions)),
    "MUL": (OpKind.MUL, _elementwise(tflite.MulOptions)),
    "DIV": (OpKind.DIV, _elementwise(tflite.DivOptions)),
    "L2_NORMALIZATION": (OpKind.L2_NORMALIZATION, _elementwise(tflite.L2NormOptions)),
    "AVERAGE_POOL_2D": (OpKind.AVERAGE_POOL_2D, _pool),
    "MAX_POOL_2D": (OpKind.MAX_POOL_2D, _pool),
    "MEAN": (OpKind.MEAN, _mean),
    "SUM": (OpKind.SUM, _mean),
    "REDUCE_MAX": (OpKind.REDUCE_MAX, _mean),
    "ARG_MAX": (OpKind.ARG_MAX, _arg(tflite.ArgMaxOptions)),
    "ARG_MIN": (OpKind.ARG_MIN, _arg(tflite.ArgMinOptions)),
    "GATHER": (OpKind.GATHER, _gather),
    "RESHAPE": (OpKind.RESHAPE, _none),
    "SQUEEZE": (OpKind.RESHAPE, _none),
    "EXPAND_DIMS": (OpKind.RESHAPE, _none),
    "SOFTMAX": (OpKind.SOFTMAX, _softmax),
    "LOG_SOFTMAX": (OpKind.LOG_SOFTMAX, _none),
    "LOGISTIC": (OpKind.LOGISTIC, _none),
    "TANH": (OpKind.TANH, _none),
    "HARD_SWISH": (OpKind.HARD_SWISH, _none),
    "LEAKY_RELU": (OpKind.LEAKY_RELU, _leaky_relu),
    "RELU": (OpKind.RELU, _none),
    "RELU6": (OpKind.RELU6, _none),
    "PAD": (OpKind.PAD, _pad),
    "PADV2": (OpKind.PAD, _pad),  # PAD with a constant pad value (input 2)
    "MIRROR_PAD": (OpKind.MIRROR_PAD, _mirror_pad),
    "SPACE_TO_BATCH_ND": (OpKind.SPACE_TO_BATCH_ND, _space_batch),
    "BATCH_TO_SPACE_ND": (OpKind.BATCH_TO_SPACE_ND, _space_batch),
    "BROADCAST_TO": (OpKind.BROADCAST_TO, _none),
    **{c: (OpKind(c), _none) for c in ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL",
                                       "SELECT_V2", "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT")},
    "SLICE": (OpKind.STRIDED_SLICE, _slice),
    "CONCATENATION": (OpKind.CONCATENATION, _concat),
    "STRIDED_SLICE": (OpKind.STRIDED_SLICE, _strided_slice),
    "QUANTIZE": (OpKind.QUANTIZE, _none),
    "DEQUANTIZE": (OpKind.DEQUANTIZE, _none),
    "TRANSPOSE": (OpKind.TRANSPOSE, _transpose),
    "SPACE_TO_DEPTH": (OpKind.SPACE_TO_DEPTH, _block(tflite.SpaceToDepthOptions)),
    "DEPTH_TO_SPACE": (OpKind.DEPTH_TO_SPACE, _block(tflite.DepthToSpaceOptions)),
    "RESIZE_NEAREST_NEIGHBOR": (OpKind.RESIZE_NEAREST_NEIGHBOR,
                                _resize(tflite.ResizeNearestNeighborOptions, "RESIZE_NEAREST_NEIGHBOR")),
    "RESIZE_BILINEAR": (OpKind.RESIZE_BILINEAR, _resize(tflite.ResizeBilinearOptions, "RESIZE_BILINEAR")),
    "TRANSPOSE_CONV": (OpKind.TRANSPOSE_CONV, _transpose_conv),
    "ABS": (OpKind.ABS, _none),
    "ELU": (OpKind.ELU, _none),
    "RSQRT": (OpKind.RSQRT, _none),
    "SQUARED_DIFFERENCE": (OpKind.SQUARED_DIFFERENCE, _none),
    "NEG": (OpKind.NEG, _none),
    "SQUARE": (OpKind.SQUARE, _none),
    **{n: (OpKind(n), _none) for n in ("FLOOR", "CEIL", "SQRT", "ROUND")},
    "BATCH_MATMUL": (OpKind.BATCH_MATMUL, _batch_matmul),
    "MAXIMUM": (OpKind.MAXIMUM, _none),
    "MINIMUM": (OpKind.MINIMUM, _none),
    "PRELU": (OpKind.PRELU, _none),
    "SVDF": (OpKind.SVDF, _svdf),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM, _lstm),
    "SHAPE": (OpKind.SHAPE, _shape),
    # computed at import when their inputs are constants (tinyml.fold.CONST_ONLY), refused otherwise
    "REDUCE_PROD": (OpKind.REDUCE_PROD, _mean), "CAST": (OpKind.CAST, _none), "FILL": (OpKind.FILL, _none),
    "ZEROS_LIKE": (OpKind.ZEROS_LIKE, _none), "FLOOR_DIV": (OpKind.FLOOR_DIV, _none),
    "FLOOR_MOD": (OpKind.FLOOR_MOD, _none), "RANGE": (OpKind.RANGE, _none),
    "BROADCAST_ARGS": (OpKind.BROADCAST_ARGS, _none),
}


class _Split:
    """Operators imported as several of the ones above: SPLIT, SPLIT_V and UNPACK become one STRIDED_SLICE per
    output, PACK a RESHAPE of each input (a view) and a CONCATENATION. They compute the same bytes as TFLM's
    kernels (both only move int8 values); the new constant and intermediate tensors are appended."""

    def __init__(self, tensors: list[Tensor]):
        self.tensors = tensors

    def const(self, name: str, values: list[int]) -> int:
        data = np.asarray(values, np.int32)
        data.setflags(write=False)
        self.tensors.append(Tensor(name, (len(values),), DType.INT32, None, data))
        return len(self.tensors) - 1

    def slices(self, k: int, name: str, x: int, outs: tuple[int, ...], axis: int, shrink: bool) -> list[Op]:
        xs = self.tensors[x].shape
        rank = len(xs)
        if not 0 <= axis < rank:
            raise TinymlError(f"operator {k} ({name}) has axis {axis} for a {rank}-D input; the file is corrupt")
        ops, start = [], 0
        for j, o in enumerate(outs):
            os_ = self.tensors[o].shape
            want = tuple(n for d, n in enumerate(xs) if d != axis) if shrink else None
            size = 1 if shrink else (os_[axis] if len(os_) == rank else -1)
            if (shrink and tuple(os_) != want) or (not shrink and (len(os_) != rank or any(
                    os_[d] != xs[d] for d in range(rank) if d != axis))):
                raise TinymlError(f"operator {k} ({name}): output {j} has shape {list(os_)}, which is not a part "
                                  f"of the input {list(xs)} along axis {axis}; the file is corrupt")
            begin = [start if d == axis else 0 for d in range(rank)]
            sizes = [size if d == axis else xs[d] for d in range(rank)]
            ins = (x, self.const(f"{name}_{k}/begin{j}", begin),
                   self.const(f"{name}_{k}/end{j}", [b + n for b, n in zip(begin, sizes)]),
                   self.const(f"{name}_{k}/strides{j}", [1] * rank))
            attrs = SliceAttrs(tuple(begin), tuple(sizes), (1,) * rank,
                               shrink_axis_mask=(1 << axis) if shrink else 0)
            ops.append(Op(OpKind.STRIDED_SLICE, ins, (o,), attrs,
                          name=f"op{k}_{name.lower()}{j}:{self.tensors[o].name}"))
            start += size
        if start != xs[axis]:
            raise TinymlError(f"operator {k} ({name}): its outputs cover {start} of the {xs[axis]} entries along "
                              f"axis {axis}; the file is corrupt")
        return ops

    def __call__(self, k: int, opname: str, op: tflite.Operator, ins: tuple[int, ...],
                 outs: tuple[int, ...]) -> list[Op]:
        t = self.tensors

        def axis_of(i: int, rank: int) -> int:
            a = _const_ints(t[i] if i != NO_TENSOR else None, f"{opname}'s axis")
            if len(a) != 1:
                raise TinymlError(f"operator {k} ({opname}) has {len(a)} axes; the file is corrupt")
            return a[0] + rank if a[0] < 0 else a[0]
        if not outs or not ins or any(i == NO_TENSOR for i in outs):
            raise TinymlError(f"operator {k} ({opname}) has no inputs or outputs; the file is corrupt")
        if opname == "SPLIT":
            if len(ins) != 2 or ins[1] == NO_TENSOR:
                raise TinymlError(f"operator {k} (SPLIT) needs an axis and an input; the file is corrupt")
            return self.slices(k, opname, ins[1], outs, axis_of(ins[0], len(t[ins[1]].shape)), False)
        if opname == "SPLIT_V":
            if len(ins) != 3 or ins[0] == NO_TENSOR:
                raise TinymlError(f"operator {k} (SPLIT_V) needs an input, sizes and an axis; the file is corrupt")
            return self.slices(k, opname, ins[0], outs, axis_of(ins[2], len(t[ins[0]].shape)), False)
        if opname == "UNPACK":
            o = _opts(op, tflite.UnpackOptions)
            rank = len(t[ins[0]].shape)
            axis = int(o.Axis())  # type: ignore[attr-defined]
            return self.slices(k, opname, ins[0], outs, axis + rank if axis < 0 else axis, True)
        # PACK: a view of each input with the new axis, then CONCATENATION along it
        o = _opts(op, tflite.PackOptions)
        if NO_TENSOR in ins:
            raise TinymlError(f"operator {k} (PACK) has a missing input; the file is corrupt")
        y = t[outs[0]]
        rank = len(y.shape)
        axis = int(o.Axis())  # type: ignore[attr-defined]
        axis = axis + rank if axis < 0 else axis
        ops, views = [], []
        for j, i in enumerate(ins):
            xs = t[i].shape
            if not 0 <= axis < rank or len(xs) != rank - 1:
                raise TinymlError(f"operator {k} (PACK): input {j} {list(xs)} cannot be stacked into "
                                  f"{list(y.shape)} along axis {axis}; the file is corrupt")
            shape = tuple(xs[:axis]) + (1,) + tuple(xs[axis:])
            t.append(Tensor(f"{t[i].name}/pack{k}_{j}", shape, t[i].dtype, t[i].quant, None))
            view = len(t) - 1
            ops.append(Op(OpKind.RESHAPE, (i, self.const(f"PACK_{k}/shape{j}", list(shape))), (view,), NoAttrs(),
                          name=f"op{k}_pack_view{j}:{t[view].name}"))
            views.append(view)
        ops.append(Op(OpKind.CONCATENATION, tuple(views), (outs[0],), ConcatAttrs(axis, Activation.NONE),
                      name=f"op{k}_pack:{y.name}"))
        return ops


SPLITS = ("SPLIT", "SPLIT_V", "UNPACK", "PACK")
SUPPORTED_OPS = tuple(sorted(BUILDERS) + list(SPLITS))


def _tensor(model: tflite.Model, t: tflite.Tensor, buf: bytes, where: str) -> Tensor:
    name = (t.Name() or b"").decode("utf-8", "replace")
    ttype = t.Type()
    if ttype not in _TENSOR_TYPES:
        raise UnsupportedOpError(f"tensor '{name}' ({where}) has TFLite type {ttype}, which tinyml does not "
                                 "support")
    dtype = _TENSOR_TYPES[ttype]
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise TinymlError(f"tensor '{name}' has a dynamic shape {list(shape)}; tinyml needs static shapes")
    if t.Sparsity() is not None:
        raise UnsupportedOpError(f"tensor '{name}' is sparse; sparse tensors are not supported")
    quant = None
    q = t.Quantization()
    if q is not None and q.ScaleLength() > 0:
        scales = tuple(float(s) for s in q.ScaleAsNumpy())
        zps = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
        if len(zps) == 1 and len(scales) > 1:
            zps = zps * len(scales)
        quant = Quant(scales, zps, int(q.QuantizedDimension()))
    data = None
    b = model.Buffers(t.Buffer())
    if b is not None:
        raw: bytes | None = None
        if b.Offset() > 1:
            raw = buf[b.Offset(): b.Offset() + b.Size()]
        elif b.DataLength() > 0:
            raw = b.DataAsNumpy().tobytes()
        if raw:
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            need = dtype.storage_bytes(count)
            if len(raw) != need:
                raise TinymlError(f"constant tensor '{name}' holds {len(raw)} bytes but its shape {list(shape)} "
                                  f"and type {dtype.value} need {need}; the file is corrupt")
            if dtype is DType.INT4:
                data = unpack_int4(raw, count).reshape(shape)
            else:
                data = np.frombuffer(raw, dtype.numpy).reshape(shape).copy()
            data.setflags(write=False)
    return Tensor(name, shape, dtype, quant, data)


def load_tflite(path: str | Path) -> Graph:
    return parse_tflite(read_model(path), source=Path(path).name)


def parse_tflite(buf: bytes, source: str = "<bytes>") -> Graph:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinymlError(f"'{source}' is not a TensorFlow Lite model: a .tflite flatbuffer carries the file "
                          "identifier 'TFL3' at bytes 4-8, and this file does not (is it truncated, or another "
                          "format such as a Keras .h5 or a SavedModel?)")
    from ..validate import InvalidModelError, validate
    try:
        g = _parse(buf, source)
    except (TinymlError, NameError, ImportError):  # no corrupt file raises the last two: a bug, reported as one
        raise
    except Exception as e:  # the flatbuffer accessors raise anything on corrupt offsets
        raise TinymlError(f"'{source}' could not be read as a TensorFlow Lite flatbuffer ({type(e).__name__}: "
                          f"{e}); the file is truncated or corrupt. Re-export it from the converter.") from None
    try:
        return validate(g, max_tensor_bytes=(1 << 31) - 1)  # structure; compile bounds sizes by --max-arena
    except InvalidModelError as e:
        raise InvalidModelError(f"{e}{_dynamic_note(buf)}") from None


def _dynamic_note(buf: bytes) -> str:
    """Why a converter-made model may be inconsistent: tensors whose shape is known only when it runs (a shape
    signature with -1 beyond the batch) carry placeholder static shapes. Nothing for a file too corrupt to tell
    (the flatbuffer accessors raise anything on corrupt offsets; the refusal stands without the note)."""
    try:
        return _shape_signature_note(buf)
    except Exception:  # noqa: BLE001
        return ""


def _shape_signature_note(buf: bytes) -> str:
    sg = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        sig = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
        if any(d < 0 for d in sig[1:]):
            return (f". The model has tensors whose shape is only known when it runs (tensor {i} has shape signature "
                    f"{sig}, its static shape is a placeholder), and TFLM refuses it as well ('failed to allocate "
                    "tensors'): convert it with a fixed input shape, e.g. keras.Input(shape, batch_size=1)")
    return ""


def _parse(buf: bytes, source: str) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise UnsupportedOpError(f"'{source}' has {model.SubgraphsLength()} subgraphs; tinyml compiles models "
                                 "with exactly one (control flow such as WHILE/IF is not supported). A recurrent "
                                 "layer (LSTM, GRU, SimpleRNN) converts to a WHILE loop unless it is built with "
                                 "unroll=True (a fixed number of time steps)")
    sg = model.Subgraphs(0)
    tensors = [_tensor(model, sg.Tensors(i), buf, f"index {i}") for i in range(sg.TensorsLength())]
    inputs = tuple(int(i) for i in sg.InputsAsNumpy())
    outputs = tuple(int(i) for i in sg.OutputsAsNumpy())
    file_consts = [t.is_const for t in tensors]
    ops: list[Op] = []
    states: set[int] = set()  # variable tensors folded into their op's attributes (SVDF, LSTM)
    # TFLite's per-op "intermediate" tensors: the converter attaches them to quantized LSTMs ([0]-shaped,
    # quantization-only, e.g. 'input_to_input_intermediate'); TFLM's integer LSTM reads none of them (its gate
    # scales are fixed, Q3.12), and neither does tinyml: they leave the graph
    intermediates: set[int] = set()
    unknown: list[str] = []  # every unsupported operator is named, not only the first
    n_file = len(tensors)
    split = _Split(tensors)
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        opname = _op_name(model, op)
        if opname not in BUILDERS and opname not in SPLITS:
            unknown.append(f"operator {k} is {opname}")
            continue
        ins = tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        if op.IntermediatesLength():
            intermediates.update(int(i) for i in op.IntermediatesAsNumpy() if 0 <= int(i) < n_file)
        for i in ins + outs:
            if i != NO_TENSOR and not 0 <= i < n_file:
                raise TinymlError(f"operator {k} ({opname}) of '{source}' refers to tensor {i}, which does not "
                                  "exist; the file is corrupt")
        if opname in SPLITS:
            if not unknown:
                try:
                    ops.extend(_folded(tensors, split(k, opname, op, ins, outs), outputs))
                except TinymlError as e:
                    raise type(e)(f"'{source}': {e}") from None
            continue
        kind, build = BUILDERS[opname]
        attrs = build(op, [tensors[i] if i != NO_TENSOR else None for i in ins])  # type: ignore[misc]
        outname = tensors[outs[0]].name if outs else ""
        ins = _rewired(kind, k, ins, outs, sg, tensors, source, states)
        new = Op(kind, ins, outs, attrs, name=f"op{k}_{kind.value.lower()}:{outname}")
        ops.extend(_folded(tensors, [new], outputs) if not unknown else [new])
    if unknown:
        raise _unsupported(source, unknown)
    name = Path(source).stem
    g = Graph(name, tuple(tensors), tuple(ops), inputs, outputs, source=source)
    if folded := {i for i in range(n_file) if tensors[i].is_const and not file_consts[i]}:
        intermediates |= folded  # computed constants that only folded operators read
    return _without(g, states | intermediates) if states or intermediates else g


def _op_name(model: tflite.Model, op: tflite.Operator) -> str:
    """The operator's builtin name ("CUSTOM (name)" for a custom one, "builtin code N" for an unknown code)."""
    oc = model.OperatorCodes(op.OpcodeIndex())
    code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
    if code == tflite.BuiltinOperator.CUSTOM:
        return f"CUSTOM ({(oc.CustomCode() or b'').decode()})"
    return _BUILTIN_NAMES.get(code, f"builtin code {code}")


def _rewired(kind: OpKind, k: int, ins: tuple[int, ...], outs: tuple[int, ...], sg: tflite.SubGraph,
             tensors: list[Tensor], source: str, states: set[int]) -> tuple[int, ...]:
    """The IR's inputs of operator `k` from the file's: TRANSPOSE_CONV's output-shape input dropped (its input
    first), SVDF's and LSTM's state tensors taken out (added to `states`: they become the op's own buffers)."""
    if kind is OpKind.TRANSPOSE_CONV:
        shape = [int(v) for v in np.asarray(tensors[ins[0]].data).reshape(-1)]
        if len(ins) < 3 or shape != list(tensors[outs[0]].shape):
            raise TinymlError(f"operator {k} (TRANSPOSE_CONV) of '{source}' has {len(ins)} inputs and output "
                              f"shape {shape} for an output of shape {list(tensors[outs[0]].shape)}; the file "
                              "is corrupt")
        return (ins[2], ins[1]) + ins[3:]
    if kind is OpKind.SVDF:
        state = sg.Tensors(ins[4])
        if not state.IsVariable() or tensors[ins[4]].is_const:
            raise TinymlError(f"operator {k} (SVDF) of '{source}': its activation state '{tensors[ins[4]].name}' "
                              "(input 4) is not a variable tensor, which TFLM requires; the file is corrupt")
        states.add(ins[4])
        return ins[:4]
    if kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:
        for j in (18, 19):
            if not sg.Tensors(ins[j]).IsVariable() or tensors[ins[j]].is_const:
                raise TinymlError(f"operator {k} (UNIDIRECTIONAL_SEQUENCE_LSTM) of '{source}': its "
                                  f"{'hidden' if j == 18 else 'cell'} state '{tensors[ins[j]].name}' (input {j}) "
                                  "is not a variable tensor, which TFLM requires; the file is corrupt")
        states.update((ins[18], ins[19]))
        return (ins[0],) + tuple(ins[j] for j in LSTM_WEIGHTS + LSTM_BIASES)
    return ins


def _unsupported(source: str, unknown: list[str]) -> UnsupportedOpError:
    """The refusal that names every operator tinyml does not compile ("operator K is NAME"), each with why."""
    kinds = sorted({u.split(" is ", 1)[1] for u in unknown})
    listed = "; ".join(unknown[:20]) + (f"; and {len(unknown) - 20} more" if len(unknown) > 20 else "")
    why = " ".join(f"{n}: {reason(n.split(' (')[-1].rstrip(')') if n.startswith('CUSTOM') else n)}."
                   for n in kinds)
    return UnsupportedOpError(
        f"'{source}' uses {len(unknown)} operator{'s' if len(unknown) > 1 else ''} that tinyml does not compile "
        f"({', '.join(kinds)}): {listed}. {why} Supported operators: {', '.join(SUPPORTED_OPS)} "
        "(docs/operators.md has the whole table against TFLM).")


def _folded(tensors: list[Tensor], ops: list[Op], outputs: tuple[int, ...]) -> list[Op]:
    """`ops` less those whose output is a constant (tinyml.fold), which are computed now: their outputs become
    constant tensors in `tensors`."""
    kept = []
    for op in ops:
        if foldable(tensors, op, outputs):
            try:
                tensors[op.outputs[0]] = fold(tensors, op)
            except TinymlError as e:
                raise type(e)(f"{op.name.split(':')[0]} ({op.kind.value}) computes a constant, and tinyml cannot "
                              f"compute it at import: {e}") from None
        else:
            kept.append(op)
    return kept


def _without(g: Graph, drop: set[int]) -> Graph:
    """`g` without the state tensors its ops took in as attributes and the ops' intermediate tensors (when nothing
    else refers to them): they are not activations, and an int16 cell state left among the tensors would make the
    graph look 16x8. The other tensors are renumbered (only in models that have such tensors; elsewhere indices
    stay the file's)."""
    used = set(g.inputs) | set(g.outputs) | {i for op in g.ops for i in op.inputs + op.outputs}
    drop = {i for i in drop if i not in used}
    keep = [i for i in range(len(g.tensors)) if i not in drop]
    new = {old: k for k, old in enumerate(keep)}
    new[NO_TENSOR] = NO_TENSOR
    ops = tuple(Op(o.kind, tuple(new[i] for i in o.inputs), tuple(new[i] for i in o.outputs), o.attrs, o.name)
                for o in g.ops)
    return Graph(g.name, tuple(g.tensors[i] for i in keep), ops, tuple(new[i] for i in g.inputs),
                 tuple(new[i] for i in g.outputs), source=g.source)
