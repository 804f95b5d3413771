"""The chsum family (codegen/templates/kernels/chsum.c.j2): a band's channel sums (AVERAGE_POOL_2D or MEAN as a
patch stage), four channels per word (dsp) or per vector (mve)."""
from __future__ import annotations

from ...params import AccumulateParams, Kernel
from ..special import Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """A band's channel sums with the DSP extension or Helium: the chsum family (the portable runtime kernel
    elsewhere: a generated one would be the same loop). A band of at most 16 pixels has its pixel count as a
    constant (the loop unrolled: row pipelines call it once per row of a few pixels)."""
    p = kern.params
    if not isinstance(p, AccumulateParams):
        return None
    if isa not in ("dsp", "mve"):
        return None
    return Special(FAMILY, isa, (("C", p.out_c), ("N", p.count if p.count <= 16 else 0)))


def _name(sp: Special) -> str:
    return f"chsum_c{sp.const('C')}" + (f"_n{sp.const('N')}" if sp.const("N") else "") + f"_{sp.isa}"


FAMILY = Family("chsum", ("tml_channel_sum_acc_s8",), select, _name, mve=True)
