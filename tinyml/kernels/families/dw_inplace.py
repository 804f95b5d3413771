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
    consts = sk.window_consts(p, p.in_c) + sk.output_stage(p, isa)
    if isa == "dsp" and p.k_w == 3 and p.dil_w == 1 and p.dil_h == 1 and p.stride_w in (1, 2):
        # window rows of three taps, no dilation: the geometry as constants and an int16 plane of word-aligned rows
        # (P16), every inner-loop load an aligned word of two neighbouring inputs (plus 3 bytes to align the plane)
        geometry = (("IH", p.in_h), ("IW", p.in_w), ("OH", p.out_h), ("OW", p.out_w), ("PT", p.pad_h),
                    ("PL", p.pad_w), ("P16", 1))
        return Special(FAMILY, isa, consts + geometry, scratch=2 * rows * (cols + cols % 2) + 3)
    return Special(FAMILY, isa, consts, scratch=rows * cols)


def _name(sp: Special) -> str:
    c = dict(sp.consts)
    geometry = f"_i{c['IH']}x{c['IW']}_{c['OH']}x{c['OW']}_p{c['PT']}x{c['PL']}_p16" if c.get("P16") else ""
    return f"dw_inplace_{sk.window(sp)}_c{c['C']}{geometry}_{sp.isa}" + sk.stage_name(sp)


def _faster(sp: Special) -> bool:
    """The P16 kernel at stride 1 across beats the pixel kernels (vww's 6x6x128 layers 139 against 179 thousand
    modeled M4 cycles, 24x24x32 486 against 666 thousand, and no border pixels); at stride 2 it gathers four
    inputs per output and is slower (24x24 -> 12x12: 250 against 195 thousand), as is the int8 plane (person_detect's
    6x6 layers 5.2 against 4.3 modeled cycles per MAC)."""
    return bool(dict(sp.consts).get("P16")) and sp.const("SW") == 1


FAMILY = Family("dw_inplace", ("tml_depthwise_conv_inplace_s8",), select, _name, derived=sk.staged_derived,
                unread=("multiplier", "shift"), staged=True, mve=True, faster_in_place=_faster)
