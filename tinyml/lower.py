"""Lower each IR op to kernel calls with the exact integer parameters TFLM's Prepare() computes: the driver over
the operator families of `tinyml/ops/` (one module per family, each lowering returning `Kernel` calls whose
parameters are the dataclasses of `tinyml/params.py`), reporting every operator it cannot lower at once. Each
family module registers the operators it lowers in its own LOWERINGS, which tinyml.ops gathers."""
from __future__ import annotations

from .errors import UnsupportedOpError
from .ir import NO_TENSOR, Graph, Op
from .ops import LOWERINGS
from .params import Kernel

__all__ = ["LOWERINGS", "lower", "lower_op"]


def lower_op(g: Graph, index: int) -> list[Kernel]:
    op = g.ops[index]
    try:
        if op.kind not in LOWERINGS:  # SHAPE, REDUCE_PROD, CAST, ...: computed at import when constant
            raise UnsupportedOpError(f"{op.kind.value} is supported only where its inputs are constants (tinyml "
                                     "computes it at import); here it reads an activation")
        return LOWERINGS[op.kind](g, op)
    except UnsupportedOpError as e:
        raise UnsupportedOpError(f"operator {index} ({op.kind.value} {_signature(g, op)}, output "
                                 f"'{g.tensor(op.outputs[0]).name}'): {e}") from None


def _signature(g: Graph, op: Op) -> str:
    """The operator's activation types, 'int8 -> int16' (constant inputs left out)."""
    ins = [g.tensor(i).dtype.value for i in op.inputs if i != NO_TENSOR and not g.tensor(i).is_const]
    return f"{', '.join(ins) or 'constants'} -> {', '.join(g.tensor(o).dtype.value for o in op.outputs)}"


def lower(g: Graph) -> list[list[Kernel]]:
    """Every op's kernel calls; an op that cannot be lowered is reported together with all the others."""
    out: list[list[Kernel]] = []
    errors: list[str] = []
    for k in range(len(g.ops)):
        try:
            out.append(lower_op(g, k))
        except UnsupportedOpError as e:
            errors.append(str(e))
    if len(errors) == 1:
        raise UnsupportedOpError(errors[0])
    if errors:
        raise UnsupportedOpError(f"{len(errors)} operators cannot be compiled: " + "; ".join(errors[:20])
                                 + (f"; and {len(errors) - 20} more" if len(errors) > 20 else ""))
    return out
