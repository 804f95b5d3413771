"""Constant folding at import: every operator whose inputs are all constants is computed once and replaced by a
constant, so shape arithmetic never reaches the generated C.

Keras models with a dynamic reshape convert to SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE: SHAPE of a tensor whose
shape is static is a constant, and everything computed from constants only is too. The importer folds each
operator as it reads it (so an operator whose parameters were computed sees them as constants). Each folded
operator runs with TFLM's arithmetic: through its own lowering and the NumPy reference executor (the same code
the generated C is checked against), or, for the integer shape arithmetic no kernel of tinyml takes (ADD, SUB,
MUL, MAXIMUM, MINIMUM on int32/int64 without quantization), with NumPy's wrapping integer arithmetic, as TFLM's
integer kernels compute it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import UnsupportedOpError
from .ir import NO_TENSOR, DType, Graph, MeanAttrs, Op, OpKind, ShapeAttrs, Tensor

# unquantized integer arithmetic on constants (shape computations), as TFLM's int32 kernels compute it
_INT_ARITHMETIC = {
    OpKind.ADD: np.add, OpKind.SUB: np.subtract, OpKind.MUL: np.multiply,
    OpKind.MAXIMUM: np.maximum, OpKind.MINIMUM: np.minimum,
}
_NEVER = frozenset({OpKind.SVDF, OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM})  # state kept between invokes


def _reduce_prod(op: Op, xs: list[np.ndarray], y: Tensor) -> np.ndarray:
    assert isinstance(op.attrs, MeanAttrs)
    with np.errstate(over="ignore"):
        return np.prod(xs[0].astype(np.int64), axis=op.attrs.axes, keepdims=op.attrs.keep_dims)


# operators tinyml computes only on constants (integer shape arithmetic around a dynamic reshape), with NumPy as
# TFLM's kernels compute them on these types: the product wraps at the output's width, CAST is a C cast (float to
# integer truncates toward zero), FLOOR_DIV/FLOOR_MOD round toward minus infinity
CONST_ONLY: dict[OpKind, Callable[[Op, list[np.ndarray], Tensor], np.ndarray]] = {
    OpKind.REDUCE_PROD: _reduce_prod,
    OpKind.CAST: lambda op, xs, y: np.trunc(xs[0]) if xs[0].dtype.kind == "f" and y.dtype is not DType.FLOAT32
    else xs[0],
    OpKind.FILL: lambda op, xs, y: np.full([int(d) for d in xs[0].reshape(-1)], xs[1].reshape(-1)[0]),
    OpKind.ZEROS_LIKE: lambda op, xs, y: np.zeros(y.shape),  # TFLM: a memset, so 0 (not the zero point)
    OpKind.FLOOR_DIV: lambda op, xs, y: np.floor_divide(xs[0], xs[1]),
    OpKind.FLOOR_MOD: lambda op, xs, y: np.mod(xs[0], xs[1]),
    OpKind.RANGE: lambda op, xs, y: np.arange(xs[0].reshape(-1)[0], xs[1].reshape(-1)[0], xs[2].reshape(-1)[0]),
    OpKind.BROADCAST_ARGS: lambda op, xs, y: np.asarray(np.broadcast_shapes(tuple(xs[0].reshape(-1)),
                                                                            tuple(xs[1].reshape(-1)))),
}


def foldable(tensors: list[Tensor], op: Op, graph_outputs: tuple[int, ...]) -> bool:
    """True when `op`'s output is a constant: a SHAPE, or an operator whose inputs are all constants (and whose
    output is not a model output, which the application reads from the arena)."""
    if op.kind in _NEVER or len(op.outputs) != 1 or op.outputs[0] in graph_outputs:
        return False
    if op.kind in (OpKind.SHAPE, OpKind.ZEROS_LIKE):  # depend on the input's shape only, never its values
        return True
    ins = [i for i in op.inputs if i != NO_TENSOR]
    return bool(ins) and all(tensors[i].is_const for i in ins)


def fold(tensors: list[Tensor], op: Op) -> Tensor:
    """The output tensor of `op` (see `foldable`) as a constant."""
    y = tensors[op.outputs[0]]
    value = _value(tensors, op)
    data = np.array(np.asarray(value).reshape(y.shape), y.dtype.numpy, order="C")  # 0-d stays 0-d
    data.setflags(write=False)
    return Tensor(y.name, y.shape, y.dtype, y.quant, data)


def _value(tensors: list[Tensor], op: Op) -> np.ndarray:
    y = tensors[op.outputs[0]]
    if op.kind is OpKind.SHAPE:
        assert isinstance(op.attrs, ShapeAttrs)
        return np.asarray(tensors[op.inputs[0]].shape, op.attrs.out_type.numpy)
    ins = [tensors[i] for i in op.inputs if i != NO_TENSOR]
    if op.kind in CONST_ONLY:
        if op.kind not in (OpKind.CAST, OpKind.ZEROS_LIKE) and any(t.quant is not None for t in ins + [y]):
            raise UnsupportedOpError(f"{op.kind.value} on quantized tensors is not supported")
        with np.errstate(divide="ignore", invalid="ignore"):
            v = CONST_ONLY[op.kind](op, [np.asarray(t.data) if t.data is not None else None for t in ins], y)
        return np.asarray(v).astype(y.dtype.numpy)
    if op.kind in _INT_ARITHMETIC and all(t.quant is None and t.dtype in (DType.INT32, DType.INT64) for t in ins):
        a, b = (np.asarray(t.data).astype(y.dtype.numpy) for t in ins[:2])
        with np.errstate(over="ignore"):
            return _INT_ARITHMETIC[op.kind](a, b).astype(y.dtype.numpy)
    from .interpreter import run_kernel
    from .lower import lower_op
    g = Graph("fold", tuple(tensors), (op,), (), ())
    kernels = lower_op(g, 0)
    if not kernels:  # RESHAPE: a view
        return np.asarray(tensors[op.inputs[0]].data)
    bufs: dict[int, np.ndarray] = {}
    for kern in kernels:
        run_kernel(kern, bufs, g)
    return bufs[op.outputs[0]]
