"""The pool family (codegen/templates/kernels/pool.c.j2): AVERAGE_POOL_2D and MAX_POOL_2D, four channels per
word (dsp) or sixteen per pass (mve)."""
from __future__ import annotations

from ...params import Kernel, PoolParams
from ..special import Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """AVERAGE_POOL_2D and MAX_POOL_2D of one batch: the pool family."""
    p = kern.params
    if not isinstance(p, PoolParams):
        return None
    is_max = kern.func == "tml_maxpool_s8"
    # average, dsp: 16-bit lane sums (SXTAB16) hold at most 255 taps of int8 values (mve sums in 32-bit lanes)
    if p.batches != 1 or (not is_max and isa != "mve" and p.filter_h * p.filter_w > 255):
        return None
    return Special(FAMILY, isa, (("C", p.channels), ("FH", p.filter_h), ("FW", p.filter_w), ("SH", p.stride_h),
                                 ("SW", p.stride_w), ("MAX", int(is_max)), ("ACT_MIN", p.act_min),
                                 ("ACT_MAX", p.act_max)))


def _name(sp: Special) -> str:
    c = dict(sp.consts)
    return (f"{'maxpool' if c['MAX'] else 'avgpool'}_{c['FH']}x{c['FW']}_s{c['SH']}x{c['SW']}_c{c['C']}"
            f"_a{c['ACT_MIN']}_{c['ACT_MAX']}_{sp.isa}").replace("-", "m")


FAMILY = Family("pool", ("tml_avgpool_s8", "tml_maxpool_s8"), select, _name, mve=True)
