"""The generated kernel families, one module each (its `FAMILY` row) beside one template each
(codegen/templates/kernels/<family>.c.j2). A new family: a module here, its template, and its row below."""
from __future__ import annotations

from ..special import Family
from . import add, chsum, conv, depthwise, dw_inplace, fc, fc_acc, lstm, pool, svdf

FAMILIES: dict[str, Family] = {m.FAMILY.family: m.FAMILY for m in (conv, depthwise, dw_inplace, fc, fc_acc, pool,
                                                                  add, chsum, lstm, svdf)}

# the one table from a runtime kernel to the family that may replace its calls
REPLACES: dict[str, Family] = {func: f for f in FAMILIES.values() for func in f.replaces}
assert len(REPLACES) == sum(len(f.replaces) for f in FAMILIES.values()), "two families replace one kernel"

call_blocks = conv.call_blocks

__all__ = ["FAMILIES", "REPLACES", "call_blocks"]
