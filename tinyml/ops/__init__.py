"""The operators, one module per family: what tinyml knows about each operator of the family in one place (its
structural check, its lowering to kernel calls with TFLM's Prepare() parameters, the runtime kernels only it
calls, with their NumPy semantics, and which of its operators may run on float32 inside a quantized graph). Each
family module registers its operators in its own tables (`CHECKS`, `LOWERINGS`, `KERNELS`, `FLOAT_ISLAND`); this
package gathers them, and tinyml.validate, tinyml.lower, tinyml.kernels.registry and tinyml.compiler read the
gathered tables."""
from __future__ import annotations

from typing import Any

from . import activation, conv, elementwise, quantize, recurrent, reduce, shape

FAMILIES = (activation, conv, elementwise, quantize, recurrent, reduce, shape)


def gather(table: str) -> dict[Any, Any]:
    """The union of the families' `table`s (an entry in two families is an error)."""
    out: dict[Any, Any] = {}
    for family in FAMILIES:
        part = getattr(family, table, {})
        twice = out.keys() & part.keys()
        assert not twice, f"{sorted(map(str, twice))} in two families' {table}"
        out.update(part)
    return out


CHECKS = gather("CHECKS")
LOWERINGS = gather("LOWERINGS")
# the operators a family runs on float32 inside a quantized graph (tinyml.compiler.FLOAT_ISLAND_OPS)
FLOAT_ISLAND: frozenset[Any] = frozenset().union(*(getattr(f, "FLOAT_ISLAND", ()) for f in FAMILIES))
