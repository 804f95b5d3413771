"""The fc family (codegen/templates/kernels/fc.c.j2): FULLY_CONNECTED with int8 or int4 weights."""
from __future__ import annotations

from ...params import FullyConnectedParams, Kernel
from .. import special as sk
from ..special import Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """FULLY_CONNECTED with int8 or int4 weights and no weight zero point: the fc family."""
    p = kern.params
    if not isinstance(p, FullyConnectedParams):
        return None
    if p.filter_offset != 0:
        return None
    bits = sk.bits(kern.func)
    d = p.accum_depth
    consts = (("DEPTH", d), ("OUTC", p.out_c), ("BITS", bits), ("KP", -(-d // 8) * 8 if bits == 4 else d),
              ("KA", (d // 8) * 8 if bits == 4 else (d // 4) * 4)) + sk.output_stage(p, isa)
    return Special(FAMILY, isa, consts, weights="mve_rows" if isa == "mve" else "original" if bits == 8 else
                   "conv_rows", grouped=isa == "mve")


def _name(sp: Special) -> str:
    return f"fc_{sp.const('DEPTH')}x{sp.const('OUTC')}_s{sp.const('BITS')}_{sp.isa}" + sk.stage_name(sp) + \
        sk.compact_name(sp)


FAMILY = Family("fc", ("tml_fully_connected_s8", "tml_fully_connected_s4"), select, _name,
                derived=sk.staged_derived, unread=("multiplier", "shift"), staged=True, compact=sk.compact, mve=True)
