"""The add family (codegen/templates/kernels/add.c.j2): ADD, SUB and MUL whose operands are read at the
output's own index, their multipliers as constants, four values per word (dsp) or per vector (mve)."""
from __future__ import annotations

import numpy as np

from ... import fixedpoint as fp
from ...ir import Graph
from ...params import BroadcastParams, Kernel
from ..special import Const, Family, Special, requant_pre_kind


def select(kern: Kernel, isa: str) -> Special | None:
    """ADD, SUB and MUL whose operands are read at the output's index: the add family."""
    p = kern.params
    if not isinstance(p, BroadcastParams):
        return None
    if isa == "mve" and not requant_pre_kind(p.output_multiplier, p.output_shift):
        isa = "dsp"  # mve: the output stage is tml_vrequant_pre, for records of tml_requant_pre's kind only
    dense = (p.d1 * p.d2 * p.d3, p.d2 * p.d3, p.d3, 1)
    dims = (p.d0, p.d1, p.d2, p.d3)
    same = all(all(s == d or n == 1 for s, d, n in zip(st, dense, dims)) for st in (p.a_stride, p.b_stride))
    # both operands read at the output's own index; every multiplier below one, as tml_requant's rounding
    # shortcut needs (TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp)
    if kern.func == "tml_mul_s8":  # tml_requant is MultiplyByQuantizedMultiplier for any shift when m >= 0
        if not same or p.output_multiplier < 0:
            return None
        return Special(FAMILY, isa, (("MUL", 1), ("AO", p.a_offset), ("BO", p.b_offset),
                                     ("OM", p.output_multiplier), ("OS", p.output_shift),
                                     ("OUT_OFF", p.output_offset), ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max)))
    if not same or max(p.a_shift, p.b_shift, p.output_shift) > 0 or \
            min(p.a_multiplier, p.b_multiplier, p.output_multiplier) < 0:
        return None
    return Special(FAMILY, isa, (("MUL", 0), ("LS", p.left_shift), ("AO", p.a_offset), ("AM", p.a_multiplier),
                                 ("AS", p.a_shift), ("BO", p.b_offset), ("BM", p.b_multiplier), ("BS", p.b_shift),
                                 ("OM", p.output_multiplier), ("OS", p.output_shift), ("OUT_OFF", p.output_offset),
                                 ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max), ("SUB", p.is_sub)))


def _name(sp: Special) -> str:
    """Every constant of the output stage is part of the signature."""
    return (("mul_" if sp.const("MUL") else "add_") + "_".join(str(v) for _, v in sp.consts[1:]) +
            f"_{sp.isa}").replace("-", "m")


def _derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """ADD/SUB: each operand's rescaled value depends on that operand alone, so both are tabulated over the 256
    int8 values (TFLM's arithmetic, as the reference executor computes it); one requantization per element.
    MUL: nothing prepared (the constants are in the code)."""
    p = kern.params
    if sp.const("MUL"):
        return ()
    assert isinstance(p, BroadcastParams)
    x = np.arange(-128, 128, dtype=np.int64)
    ta = fp.mbqm_lt_one(fp.wrap32((x + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    tb = fp.mbqm_lt_one(fp.wrap32((x + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    return (Const("addtab", "int32_t", np.concatenate([ta, tb]).astype(np.int32).tobytes()),)


FAMILY = Family("add", ("tml_add_s8", "tml_mul_s8"), select, _name, derived=_derived, unread=("a_stride", "b_stride"),
                mve=True)
