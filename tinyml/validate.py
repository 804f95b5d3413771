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

from .errors import TinymlError
from .ir import (
    NO_TENSOR,
    Graph,
    Op,
    OpKind,
    Tensor,
)
from .ops import CHECKS as _CHECKS
from .ops.common import RANGES

COMPARISONS = (OpKind.EQUAL, OpKind.NOT_EQUAL, OpKind.LESS, OpKind.LESS_EQUAL, OpKind.GREATER,
               OpKind.GREATER_EQUAL)
MAX_TENSOR_BYTES = 64 << 20  # the largest tensor (and arena) tinyml generates code for, by default
MAX_DIM = 1 << 24            # a dimension beyond this is a corrupt file, not a model for a microcontroller


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
    lo, hi = RANGES.get(t.dtype, (-(1 << 63), (1 << 63) - 1))
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


