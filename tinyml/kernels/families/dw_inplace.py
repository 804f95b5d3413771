"""The dw_inplace family (codegen/templates/kernels/dw_inplace.c.j2): the in-place DEPTHWISE_CONV_2D that the
memory plan chose (its output written over its input, channel by channel through a channel plane)."""
from __future__ import annotations

from ...params import ConvParams, Kernel
from .. import special as sk
from ..special import Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """The in-place DEPTHWISE_CONV_2D the memory plan chose: the dw_inplace family."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    if p.pad_h < 0 or p.pad_w < 0:
        return None
    # the channel plane with the padding around it (the zero point), so that every pixel is an inside one
    rows = (p.out_h - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1
    cols = (p.out_w - 1) * p.stride_w + (p.k_w - 1) * p.dil_w + 1
    return Special(FAMILY, isa, sk.window_consts(p, p.in_c) + sk.output_stage(p, isa), scratch=rows * cols)


def _name(sp: Special) -> str:
    return f"dw_inplace_{sk.window(sp)}_c{sp.const('C')}_{sp.isa}" + sk.stage_name(sp)


FAMILY = Family("dw_inplace", ("tml_depthwise_conv_inplace_s8",), select, _name, derived=sk.staged_derived,
                unread=("multiplier", "shift"), staged=True, mve=True)
