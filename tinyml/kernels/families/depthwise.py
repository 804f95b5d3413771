"""The depthwise family (codegen/templates/kernels/depthwise.c.j2): DEPTHWISE_CONV_2D with int8 weights and depth
multiplier 1; one of a single input channel goes to the conv family."""
from __future__ import annotations

from ...params import ConvParams, Kernel
from .. import special as sk
from ..special import Family, Special
from . import conv


def select(kern: Kernel, isa: str) -> Special | None:
    """A depthwise convolution of one input channel (depth multiplier = output channels) is a convolution (not
    the in-place kernel: its channel plane is its own scratch, the dw_inplace family runs it); int8 weights
    otherwise take the depthwise family, int4 ones the runtime kernel."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    if p.in_c == 1:
        return conv.select(kern, isa)
    if kern.func != "tml_depthwise_conv_s8" or p.batches != 1 or p.depth_multiplier != 1:
        return None
    # dsp, stride 1 or 2 without dilation across, a group of four channels or more, rows of four pixels or more:
    # inside pixels two at a time (their windows' shared columns, weights and records; the overlap analysis counts
    # the pairs: px_block 2; named `_in2`). Measured, modeled M4 cycles of such layers: 6% (6x6) to 15% (48x48)
    # fewer at stride 1, 8-9% at stride 2 (vww's 48x48 -> 24x24, 398 K -> 363 K), for ~900 bytes of code per
    # kernel; narrower rows have too few inside pairs to pay for it
    pairs = isa == "dsp" and p.stride_w in (1, 2) and p.dil_w == 1 and p.in_c >= 4 and p.out_w >= 4
    return Special(FAMILY, isa, sk.window_consts(p, p.in_c) + sk.output_stage(p, isa),
                   weights="dw16" if isa == "dsp" else "dw4" if isa == "mve" else "original", grouped=isa == "mve",
                   px_block=2 if pairs else 1)


def _name(sp: Special) -> str:
    return f"dw_{sk.window(sp)}_c{sp.const('C')}_s{sp.const('BITS')}_{sp.isa}" + sk.stage_name(sp) + \
        ("_in2" if sp.px_block == 2 else "")


def _stack(sp: Special) -> int:
    """A row of zero points for the taps outside the input (layers of up to 512 channels)."""
    c = sp.const("C")
    return -(-c // 4) * 4 if c <= 512 else 0


def _border(sp: Special) -> str | None:
    """The shared function a depthwise kernel calls for pixels whose window leaves the input (any channel count:
    one per kernel geometry and output stage, or run-time stage, not per layer signature), or None: its own, for
    layers wider than 512 channels (their zero-point row would not fit the stack)."""
    c = dict(sp.consts)
    if c["C"] > 512:
        return None
    return f"dwb_{c['KH']}x{c['KW']}_d{c['DH']}x{c['DW']}{sk.stage_name(sp)}_{sp.isa}"


FAMILY = Family("depthwise", ("tml_depthwise_conv_s8", "tml_depthwise_conv_s4"), select, _name, stack=_stack,
                derived=sk.staged_derived, unread=("multiplier", "shift"), staged=True, border=_border,
                mve=True)
