"""The fc_acc family (codegen/templates/kernels/fc_acc.c.j2): a band of a FULLY_CONNECTED reduction (the layer
split into bands of its input, their int32 sums accumulated)."""
from __future__ import annotations

from ...ir import Graph
from ...params import AccumulateParams, Kernel
from ..special import Const, Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """A band of a FULLY_CONNECTED reduction with no weight zero point: the fc_acc family."""
    p = kern.params
    if not isinstance(p, AccumulateParams):
        return None
    if p.filter_offset != 0:
        return None
    return Special(FAMILY, isa, (("DEPTH", p.accum_depth), ("OUTC", p.out_c), ("BITS", 8)))


def _name(sp: Special) -> str:
    return f"fc_acc_{sp.const('DEPTH')}x{sp.const('OUTC')}_s8_{sp.isa}"


def _derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """The weights as they are (the input offset is added while widening the input)."""
    return (kern.args[1],)


FAMILY = Family("fc_acc", ("tml_fully_connected_acc_s8",), select, _name, derived=_derived, mve=True)
