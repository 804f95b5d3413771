"""Everything the generated C relies on, proven about an imported model before anything else looks at it.

A `.tflite` file is data someone else wrote: a corrupt or hostile one can describe a cycle, a tensor with two
writers, an operator that writes a weight, a stride of 0, a scale of NaN, a zero point of 2^40, a convolution
whose weights disagree with its channels. Each would otherwise surface later as a Python exception, a division by
zero in C, or generated code that writes past its arena. `validate` rejects them with one line naming the
operator, the tensor and the field; after it, the lowering, the planner and the code generator may assume a
well-formed graph.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import TinymlError
from .ir import (
    NO_TENSOR,
    AxisAttrs,
    BlockAttrs,
    ConcatAttrs,
    ConvAttrs,
    DType,
    Graph,
    LstmAttrs,
    MatMulAttrs,
    MeanAttrs,
    MirrorPadAttrs,
    Op,
    OpKind,
    PadAttrs,
    Padding,
    PoolAttrs,
    SliceAttrs,
    SoftmaxAttrs,
    SpaceBatchAttrs,
    SvdfAttrs,
    Tensor,
    TransposeAttrs,
)

COMPARISONS = (OpKind.EQUAL, OpKind.NOT_EQUAL, OpKind.LESS, OpKind.LESS_EQUAL, OpKind.GREATER,
               OpKind.GREATER_EQUAL)
MAX_TENSOR_BYTES = 64 << 20  # the largest tensor (and arena) tinyml generates code for, by default
MAX_DIM = 1 << 24            # a dimension beyond this is a corrupt file, not a model for a microcontroller

_RANGES = {DType.INT4: (-8, 7), DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
           DType.INT32: (-(1 << 31), (1 << 31) - 1), DType.INT64: (-(1 << 63), (1 << 63) - 1)}


class InvalidModelError(TinymlError):
    pass


def validate(g: Graph, max_tensor_bytes: int = MAX_TENSOR_BYTES) -> Graph:
    """Raise InvalidModelError (a TinymlError) unless `g` is well formed; returns `g`."""
    src = g.source or g.name

    def fail(msg: str) -> None:
        raise InvalidModelError(f"'{src}' is not a valid model: {msg}")
    _model_io(g, fail, max_tensor_bytes)
    _read_order(g, _writers(g, fail), fail)
    for k, op in enumerate(g.ops):
        _op(g, k, op, fail)
    return g


def _model_io(g: Graph, fail, max_tensor_bytes: int) -> None:  # noqa: ANN001
    """Operators, model inputs and outputs that exist and are not constants, every tensor well formed."""
    n = len(g.tensors)
    if not g.ops:
        fail("it has no operators")
    if not g.inputs or not g.outputs:
        fail(f"it has {len(g.inputs)} inputs and {len(g.outputs)} outputs; a model needs at least one of each")
    for what, idx in (("input", g.inputs), ("output", g.outputs)):
        for k, i in enumerate(idx):
            if not 0 <= i < n:
                fail(f"model {what} {k} refers to tensor {i}, which does not exist ({n} tensors)")
    for i, t in enumerate(g.tensors):
        _tensor(t, i, fail, max_tensor_bytes)
    for what, idx in (("input", g.inputs), ("output", g.outputs)):
        for i in idx:
            if g.tensor(i).is_const:
                fail(f"model {what} '{g.tensor(i).name}' is a constant")
        if len(set(idx)) != len(idx):
            fail(f"a tensor is listed twice among the model's {what}s")


def _writers(g: Graph, fail) -> dict[int, int]:  # noqa: ANN001
    """tensor -> the operator that writes it; refuses a tensor written twice, a constant or a model input written,
    an operator reading its own output, a reference to a tensor that does not exist."""
    n = len(g.tensors)
    writer: dict[int, int] = {}
    for k, op in enumerate(g.ops):
        where = f"operator {k} ({op.kind.value})"
        for i in op.inputs + op.outputs:
            if i != NO_TENSOR and not 0 <= i < n:
                fail(f"{where} refers to tensor {i}, which does not exist ({n} tensors)")
        if not op.outputs or NO_TENSOR in op.outputs:
            fail(f"{where} has no output tensor")
        for o in op.outputs:
            t = g.tensor(o)
            if t.is_const:
                fail(f"{where} writes '{t.name}', which is a constant (weights or a shape)")
            if o in g.inputs:
                fail(f"{where} writes '{t.name}', which is a model input")
            if o in writer:
                fail(f"tensor '{t.name}' is written by operator {writer[o]} and by {where}")
            if o in op.inputs:
                fail(f"{where} reads its own output '{t.name}' (a cycle)")
            writer[o] = k
    return writer


def _read_order(g: Graph, writer: dict[int, int], fail) -> None:  # noqa: ANN001
    """Every activation an operator reads is written before it; every model output is written."""
    for k, op in enumerate(g.ops):
        for i in op.inputs:
            if i == NO_TENSOR or g.tensor(i).is_const or i in g.inputs:
                continue
            if i not in writer:
                fail(f"operator {k} ({op.kind.value}) reads '{g.tensor(i).name}', which nothing writes")
            if writer[i] > k:
                fail(f"operator {k} ({op.kind.value}) reads '{g.tensor(i).name}' before operator {writer[i]} writes "
                     "it (the operators are not in an order they can run in: a cycle or a misordered file)")
    for i in g.outputs:
        if i not in writer and i not in g.inputs and not g.tensor(i).is_const:
            fail(f"model output '{g.tensor(i).name}' is never written")


def _tensor(t: Tensor, i: int, fail, max_bytes: int) -> None:  # noqa: ANN001
    where = f"tensor {i} ('{t.name}')"
    if any(d < 1 or d > MAX_DIM for d in t.shape):
        fail(f"{where} has shape {list(t.shape)}; every dimension must be between 1 and {MAX_DIM:,}")
    if t.nbytes > max_bytes:
        fail(f"{where} takes {t.nbytes:,} bytes, more than the {max_bytes:,} tinyml generates code for "
             "(--max-arena raises the limit)")
    q = t.quant
    if q is None:
        return
    if len(q.scale) != len(q.zero_point) or not q.scale:
        fail(f"{where} has {len(q.scale)} scales and {len(q.zero_point)} zero points")
    if any(not math.isfinite(s) or s <= 0 for s in q.scale):
        bad = next(s for s in q.scale if not math.isfinite(s) or s <= 0)
        fail(f"{where} has quantization scale {bad}; scales must be finite and positive")
    lo, hi = _RANGES.get(t.dtype, (-(1 << 63), (1 << 63) - 1))
    if any(not lo <= z <= hi for z in q.zero_point):
        bad = next(z for z in q.zero_point if not lo <= z <= hi)
        fail(f"{where} is {t.dtype.value} with zero point {bad}, outside [{lo}, {hi}]")
    if len(q.scale) > 1:
        if len(t.shape) == 1 and len(q.scale) == t.shape[0]:
            return  # a 1-D per-channel bias: TFLM accepts any quantized_dimension there (person_detect has 3)
        if not 0 <= q.axis < len(t.shape):
            fail(f"{where} has quantized_dimension {q.axis}, but {len(t.shape)} dimensions")
        if len(q.scale) != t.shape[q.axis]:
            fail(f"{where} has {len(q.scale)} per-channel scales for {t.shape[q.axis]} channels along dimension "
                 f"{q.axis}")


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
    _geometry(where, x.shape, out.shape, (w.shape[1], w.shape[2]), a, fail)
    _bias(g, where, ins, out.shape[3], fail)


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
    _geometry(where, out.shape, x.shape, (w.shape[1], w.shape[2]), a, fail, transposed=True)
    _bias(g, where, ins, out.shape[3], fail)


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
    try:
        batch = np.broadcast_shapes(tuple(x.shape[:-2]), tuple(y.shape[:-2]))
    except ValueError:
        batch = None
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
    if w.shape[1] < 1 or x.size % w.shape[1] or out.shape[-1] != w.shape[0]:
        fail(f"{where}: weights '{w.name}' {list(w.shape)} do not match input {list(x.shape)} and output "
             f"{list(out.shape)}")
    if out.size != (x.size // w.shape[1]) * w.shape[0]:
        fail(f"{where}: output {list(out.shape)} has {out.size} values; {x.size // w.shape[1]} rows of "
             f"{w.shape[0]} were expected")
    _bias(g, where, ins, w.shape[0], fail)


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
    _geometry(where, x.shape, out.shape, (a.filter_h, a.filter_w), a, fail)


def _check_concatenation(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """CONCATENATION."""
    assert isinstance(a, ConcatAttrs)
    rank = len(out.shape)
    axis = a.axis + rank if a.axis < 0 else a.axis
    if not 0 <= axis < rank:
        fail(f"{where} has axis {a.axis} for a {rank}-D output")
    parts = [t for t in ins if t is not None]
    if any(len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis)
           for t in parts) or sum(t.shape[axis] for t in parts) != out.shape[axis]:
        fail(f"{where}: inputs {[list(t.shape) for t in parts]} do not concatenate to {list(out.shape)} along "
             f"axis {a.axis}")


def _check_arg_max(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """ARG_MAX, ARG_MIN, GATHER."""
    assert isinstance(a, AxisAttrs)
    if not 0 <= a.axis < len(x.shape):
        fail(f"{where} has axis {a.axis} for a {len(x.shape)}-D input")
    idx = ins[1] if len(ins) > 1 else None
    mid = (() if op.kind is not OpKind.GATHER else tuple(idx.shape) if idx is not None else None)
    if mid is None or tuple(out.shape) != tuple(x.shape[:a.axis]) + mid + tuple(x.shape[a.axis + 1:]):
        fail(f"{where}: input {list(x.shape)} along axis {a.axis} does not give {list(out.shape)}")


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


def _check_pad(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """PAD, MIRROR_PAD."""
    assert isinstance(a, (PadAttrs, MirrorPadAttrs))
    if len(a.paddings) != len(x.shape) or any(b < 0 or e < 0 for b, e in a.paddings) or \
            tuple(d + b + e for d, (b, e) in zip(x.shape, a.paddings)) != tuple(out.shape):
        fail(f"{where}: paddings {[list(p) for p in a.paddings]} do not take {list(x.shape)} to "
             f"{list(out.shape)}")


def _check_space_to_batch_nd(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND."""
    assert isinstance(a, SpaceBatchAttrs)
    spatial = len(x.shape) - 2
    want = None
    if spatial in (1, 2) and len(a.block) == spatial and min(a.block) >= 1 and \
            all(b >= 0 and e >= 0 for b, e in a.pads) and len(out.shape) == len(x.shape):
        n, blocks = x.shape[0], math.prod(a.block)
        if op.kind is OpKind.SPACE_TO_BATCH_ND:
            dims = [x.shape[1 + d] + sum(a.pads[d]) for d in range(spatial)]
            if all(v % a.block[d] == 0 for d, v in enumerate(dims)):
                want = (n * blocks, *(v // a.block[d] for d, v in enumerate(dims)), x.shape[-1])
        elif n % blocks == 0:
            want = (n // blocks, *(x.shape[1 + d] * a.block[d] - sum(a.pads[d]) for d in range(spatial)),
                    x.shape[-1])
    if want is None or want != tuple(out.shape) or min(want) < 1:
        fail(f"{where}: block {list(a.block)} and paddings {[list(p) for p in a.pads]} do not take "
             f"{list(x.shape)} to {list(out.shape)}")


def _check_broadcast_to(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """BROADCAST_TO."""
    try:
        both = np.broadcast_shapes(tuple(x.shape), tuple(out.shape))
    except ValueError:
        both = None
    if both != tuple(out.shape):
        fail(f"{where}: {list(x.shape)} does not broadcast to {list(out.shape)}")


def _check_reshape(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """RESHAPE."""
    if x.size != out.size:
        fail(f"{where}: {list(x.shape)} ({x.size} values) cannot become {list(out.shape)} ({out.size})")
    if x.dtype is not out.dtype:
        fail(f"{where}: reshapes {x.dtype.value} '{x.name}' into {out.dtype.value} '{out.name}'; a reshape keeps "
             "the type")


def _check_select_v2(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SELECT_V2."""
    if len(ins) != 3 or any(t is None for t in ins):
        fail(f"{where} needs a condition and two operands")
    try:
        both = np.broadcast_shapes(*(tuple(t.shape) for t in ins if t is not None))
    except ValueError:
        both = None
    if both != tuple(out.shape):
        fail(f"{where}: {[list(t.shape) for t in ins if t is not None]} do not broadcast to {list(out.shape)}")


def _check_add(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU, SQUARED_DIFFERENCE, DIV, LOGICAL_AND, LOGICAL_OR."""
    if len(ins) < 2 or ins[1] is None:
        fail(f"{where} needs two inputs")
    y = ins[1]
    assert y is not None
    try:
        both = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        both = None
    if both is None or math.prod(both) != out.size or len(both) > len(out.shape) and \
            tuple(both[-len(out.shape):]) != tuple(out.shape):
        fail(f"{where}: inputs {list(x.shape)} and {list(y.shape)} do not broadcast to the output "
             f"{list(out.shape)}")


def _check_transpose(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """TRANSPOSE."""
    assert isinstance(a, TransposeAttrs)
    if sorted(a.perm) != list(range(len(x.shape))) or len(x.shape) > 6 or \
            tuple(x.shape[d] for d in a.perm) != tuple(out.shape):
        fail(f"{where}: permutation {list(a.perm)} does not take {list(x.shape)} to {list(out.shape)} (at most "
             "6 dimensions)")


def _check_space_to_depth(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SPACE_TO_DEPTH, DEPTH_TO_SPACE."""
    assert isinstance(a, BlockAttrs)
    b = a.block_size
    if b < 1 or len(x.shape) != 4 or len(out.shape) != 4:
        fail(f"{where} has block size {b} and shapes {list(x.shape)} -> {list(out.shape)}; it needs 4-D "
             "tensors and a block size of at least 1")
    n, h, w, c = x.shape
    want = ((n, h // b, w // b, c * b * b) if op.kind is OpKind.SPACE_TO_DEPTH and h % b == 0 and w % b == 0
            else (n, h * b, w * b, c // (b * b)) if op.kind is OpKind.DEPTH_TO_SPACE and c % (b * b) == 0
            else None)
    if want != tuple(out.shape):
        fail(f"{where}: block size {b} does not take {list(x.shape)} to {list(out.shape)}")


def _check_resize_nearest_neighbor(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR."""
    if len(x.shape) != 4 or len(out.shape) != 4 or x.shape[0] != out.shape[0] or x.shape[3] != out.shape[3]:
        fail(f"{where}: input {list(x.shape)} and output {list(out.shape)} must be 4-D with the same batch and "
             "channels")
    size = ins[1] if len(ins) > 1 else None
    if size is None or size.data is None or [int(v) for v in np.asarray(size.data).reshape(-1)] != \
            list(out.shape[1:3]):
        fail(f"{where}: its size input does not hold the output's height and width {list(out.shape[1:3])}")


def _check_strided_slice(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """STRIDED_SLICE."""
    assert isinstance(a, SliceAttrs)
    if not len(a.begin) == len(a.size) == len(a.strides) == len(x.shape) or \
            any(n < 1 or st == 0 or not 0 <= b < d or not 0 <= b + (n - 1) * st < d
                for b, n, st, d in zip(a.begin, a.size, a.strides, x.shape)) or math.prod(a.size) != out.size:
        fail(f"{where}: begin {list(a.begin)}, size {list(a.size)} and strides {list(a.strides)} do not select "
             f"{list(out.shape)} from {list(x.shape)}")


def _check_unidirectional_sequence_lstm(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """UNIDIRECTIONAL_SEQUENCE_LSTM."""
    assert isinstance(a, LstmAttrs)
    if len(ins) != 13 or any(t is None or not t.is_const for t in ins[1:]):
        fail(f"{where} needs constant weights and biases for all four gates")
    w = ins[1]
    assert w is not None
    units = w.shape[0] if len(w.shape) == 2 else 0
    if len(x.shape) != 3 or len(out.shape) != 3 or out.shape != x.shape[:2] + (units,) or units < 1 or \
            any(t is None or t.shape != (units, x.shape[2]) for t in ins[1:5]) or \
            any(t is None or t.shape != (units, units) for t in ins[5:9]) or \
            any(t is None or t.shape != (units,) for t in ins[9:13]):
        fail(f"{where}: input {list(x.shape)}, weights {[list(t.shape) for t in ins[1:9] if t is not None]}, "
             f"biases and output {list(out.shape)} do not fit together")
    if not (math.isfinite(a.hidden_scale) and a.hidden_scale > 0 and math.isfinite(a.cell_scale) and
            a.cell_scale > 0 and -128 <= a.hidden_zero_point <= 127 and math.isfinite(a.cell_clip)):
        fail(f"{where}: its states have scales {a.hidden_scale} and {a.cell_scale}, hidden zero point "
             f"{a.hidden_zero_point}, cell clip {a.cell_clip}")


def _check_svdf(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SVDF."""
    assert isinstance(a, SvdfAttrs)
    wf, wt = (ins[k] if len(ins) > k else None for k in (1, 2))
    if wf is None or wt is None or not wf.is_const or not wt.is_const:
        fail(f"{where} needs constant feature and time weights")
    assert wf is not None and wt is not None
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(out.shape) != 2:
        fail(f"{where} needs a 2-D input, weights and output; got {list(x.shape)}, {list(wf.shape)}, "
             f"{list(wt.shape)}, {list(out.shape)}")
    filters = wf.shape[0]
    if a.rank < 1 or filters % a.rank or wf.shape[1] != x.shape[1] or wt.shape[0] != filters or \
            out.shape != (x.shape[0], filters // a.rank):
        fail(f"{where}: input {list(x.shape)}, feature weights {list(wf.shape)}, time weights {list(wt.shape)}, "
             f"rank {a.rank} and output {list(out.shape)} do not fit together (output [batch, filters / rank])")
    _bias(g, where, [x, wf] + ins[3:4], filters // a.rank, fail)
    if a.state_dtype in _RANGES and not _RANGES[a.state_dtype][0] <= a.state_zero_point <= \
            _RANGES[a.state_dtype][1] or not math.isfinite(a.state_scale) or a.state_scale < 0:
        fail(f"{where}: its activation state has scale {a.state_scale} and zero point {a.state_zero_point}")


def _check_logistic(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """The one-input element-wise operators (activations, (de)quantization, float unary ones): LOGISTIC, TANH,
    HARD_SWISH, LEAKY_RELU, RELU, RELU6, QUANTIZE, DEQUANTIZE, SOFTMAX, ABS, RSQRT, NEG, SQUARE, L2_NORMALIZATION,
    ELU, CAST, LOGICAL_NOT, LOG_SOFTMAX, FLOOR, CEIL, SQRT, ROUND."""
    if isinstance(a, SoftmaxAttrs) and not math.isfinite(a.beta):
        fail(f"{where} has beta {a.beta}")
    if x.size != out.size:
        fail(f"{where}: input {list(x.shape)} and output {list(out.shape)} differ in size")


# the structural checks of each operator (operators not listed need only an input and an output)
_CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.CONV_2D: _check_conv_2d, OpKind.DEPTHWISE_CONV_2D: _check_conv_2d,
    OpKind.TRANSPOSE_CONV: _check_transpose_conv, OpKind.BATCH_MATMUL: _check_batch_matmul,
    OpKind.FULLY_CONNECTED: _check_fully_connected, OpKind.AVERAGE_POOL_2D: _check_average_pool_2d,
    OpKind.MAX_POOL_2D: _check_average_pool_2d, OpKind.CONCATENATION: _check_concatenation,
    OpKind.ARG_MAX: _check_arg_max, OpKind.ARG_MIN: _check_arg_max, OpKind.GATHER: _check_arg_max,
    OpKind.MEAN: _check_mean, OpKind.SUM: _check_mean, OpKind.REDUCE_MAX: _check_mean, OpKind.PAD: _check_pad,
    OpKind.MIRROR_PAD: _check_pad, OpKind.SPACE_TO_BATCH_ND: _check_space_to_batch_nd,
    OpKind.BATCH_TO_SPACE_ND: _check_space_to_batch_nd, OpKind.BROADCAST_TO: _check_broadcast_to,
    OpKind.RESHAPE: _check_reshape, OpKind.SELECT_V2: _check_select_v2, OpKind.ADD: _check_add, OpKind.SUB: _check_add,
    OpKind.MUL: _check_add, OpKind.MAXIMUM: _check_add, OpKind.MINIMUM: _check_add, OpKind.PRELU: _check_add,
    OpKind.SQUARED_DIFFERENCE: _check_add, OpKind.DIV: _check_add, OpKind.LOGICAL_AND: _check_add,
    OpKind.LOGICAL_OR: _check_add, OpKind.TRANSPOSE: _check_transpose, OpKind.SPACE_TO_DEPTH: _check_space_to_depth,
    OpKind.DEPTH_TO_SPACE: _check_space_to_depth, OpKind.RESIZE_NEAREST_NEIGHBOR: _check_resize_nearest_neighbor,
    OpKind.RESIZE_BILINEAR: _check_resize_nearest_neighbor, OpKind.STRIDED_SLICE: _check_strided_slice,
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: _check_unidirectional_sequence_lstm, OpKind.SVDF: _check_svdf,
    OpKind.LOGISTIC: _check_logistic, OpKind.TANH: _check_logistic, OpKind.HARD_SWISH: _check_logistic,
    OpKind.LEAKY_RELU: _check_logistic, OpKind.RELU: _check_logistic, OpKind.RELU6: _check_logistic,
    OpKind.QUANTIZE: _check_logistic, OpKind.DEQUANTIZE: _check_logistic, OpKind.SOFTMAX: _check_logistic,
    OpKind.ABS: _check_logistic, OpKind.RSQRT: _check_logistic, OpKind.NEG: _check_logistic,
    OpKind.SQUARE: _check_logistic, OpKind.L2_NORMALIZATION: _check_logistic, OpKind.ELU: _check_logistic,
    OpKind.CAST: _check_logistic, OpKind.LOGICAL_NOT: _check_logistic, OpKind.LOG_SOFTMAX: _check_logistic,
    OpKind.FLOOR: _check_logistic, OpKind.CEIL: _check_logistic, OpKind.SQRT: _check_logistic,
    OpKind.ROUND: _check_logistic,
}


def _op(g: Graph, k: int, op: Op, fail) -> None:  # noqa: ANN001
    where = f"operator {k} ({op.kind.value})"
    ins = [g.tensor(i) if i != NO_TENSOR else None for i in op.inputs]
    out = g.tensor(op.outputs[0])
    a = op.attrs
    if not ins or ins[0] is None:
        fail(f"{where} has no input")
    x = ins[0]
    assert x is not None
    check = _CHECKS.get(op.kind)
    if check is not None:
        check(g, k, op, where, ins, x, out, a, fail)


def _bias(g: Graph, where: str, ins: list, channels: int, fail) -> None:  # noqa: ANN001
    if len(ins) > 2 and ins[2] is not None and ins[2].size != channels:
        fail(f"{where}: bias '{ins[2].name}' has {ins[2].size} values for {channels} output channels")


def _geometry(where: str, xs: tuple, os: tuple, k: tuple, a, fail, transposed: bool = False) -> None:  # noqa: ANN001
    """The output's height and width are the ones TFLite's converter derives from the padding mode (for
    TRANSPOSE_CONV, called with the shapes swapped: its input is what a convolution of its output gives)."""
    dil = (getattr(a, "dilation_h", 1), getattr(a, "dilation_w", 1))
    for d, name in ((0, "height"), (1, "width")):
        n, kk, s = xs[1 + d], (k[d] - 1) * dil[d] + 1, (a.stride_h, a.stride_w)[d]
        want = (n + s - 1) // s if a.padding is Padding.SAME else (n - kk + s) // s
        if want < 1 or os[1 + d] != want:
            if transposed:
                fail(f"{where}: input {name} {os[1 + d]} does not follow from output {name} {n}, filter {k[d]}, "
                     f"stride {s} and {a.padding.value} padding (expected {max(want, 0)})")
            fail(f"{where}: output {name} {os[1 + d]} does not follow from input {name} {n}, filter {k[d]}, stride "
                 f"{s} and {a.padding.value} padding (expected {max(want, 0)})")
