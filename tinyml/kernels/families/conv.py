"""The conv family (codegen/templates/kernels/conv.c.j2): CONV_2D with int8 or int4 weights, and a
DEPTHWISE_CONV_2D of one input channel (a convolution whose depth multiplier is its output channel count)."""
from __future__ import annotations

from ...boards import STACK_BYTES
from ...params import ConvParams, Kernel
from .. import special as sk
from ..special import Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """CONV_2D (and a DEPTHWISE_CONV_2D of one input channel): the conv family."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    as_conv = kern.func.startswith("tml_depthwise_conv_")  # one input channel (see families.depthwise)
    if p.batches != 1 or (p.filter_in_c != p.in_c and not as_conv):
        return None
    bits = sk.bits(kern.func)
    # 1x1 without padding: the GEMM reads the input pixels where they are; else two pixels are gathered
    # (im2col) into scratch rows padded to whole SIMD steps, the padding taps filled with the zero point
    direct = p.k_h == 1 and p.k_w == 1 and p.pad_h <= 0 and p.pad_w <= 0
    k = p.k_h * p.k_w * p.in_c
    step = 8 if bits == 4 else 4
    kp = -(-k // step) * step  # weight rows (and im2col rows) in whole SIMD steps, zero weights after k
    if bits == 8 and direct:
        kp = k
    ka = (k // step) * step if direct else kp  # elements the SIMD loop covers (a direct row has k)
    px, xw = _blocking(isa, bits, direct or kern.variant == "wide", p.out_c, ka)
    # dsp, int8: the weights widened to int16 at generation time (no SXTB16 of weights in the inner loops; twice
    # the flash for these weights): 5-11% fewer modeled M4 cycles in vww's, person_detect's and ResNet-8's GEMMs
    # and micro_speech's first layer. Not where pairs of pixels read rows widened once (xb: a 1x1 over rows
    # narrower than three, a two-pixel im2col): their steps are loads already, and two weight loads cost more than
    # the SXTB16s they save (str_ww +4%). The selector narrows them back where the board's flash is short
    # (special.narrow, tinyml.compiler.narrow_weights)
    pairs = px == 2 or (direct and p.out_w < 3)
    w16 = int(isa == "dsp" and bits == 8 and not (xw and pairs))
    consts = (("CIN", p.in_c), ("COUT", p.out_c), ("KH", p.k_h), ("KW", p.k_w), ("SH", p.stride_h),
              ("SW", p.stride_w), ("DH", p.dil_h), ("DW", p.dil_w), ("BITS", bits), ("K", k), ("KP", kp),
              ("KA", ka), ("DIRECT", int(direct)), ("PX", px), ("XW", xw)) + (("W16", 1),) * w16 + \
        sk.output_stage(p, isa)
    # (three pixels of a row at fixed distances, pairs across rows narrower than three; staged outputs)
    rows8 = "original" if bits == 8 and kp == k and not as_conv else "conv_rows"
    return Special(FAMILY, isa, consts, scratch=0 if direct else px * kp, px_block=px, staged=px == 3,
                   weights="mve_rows" if isa == "mve" else "conv16" if w16 else rows8,
                   narrowed=rows8 if w16 else "", grouped=isa == "mve")


def _blocking(isa: str, bits: int, wide: bool, out_c: int, ka: int) -> tuple[int, int]:
    """(pixels per pass, rows widened once) of a conv kernel.

    dsp, int8 weights: two output channels x three pixels per pass (the weights stay widened in registers while
    three pixels meet them) for a 1x1 read in place, and for a gathered (im2col) convolution whose call the memory
    plan marked "wide" (room for a third row of scratch that does not raise the peak:
    memory.techniques.widen_im2col); otherwise two x two. Blocks of three stage their outputs (3 x out_c bytes of
    stack). mve: one pixel, four output channels per pass (VMLADAVA reductions into four accumulators, whose output
    stage is one vector: records grouped by four channels; int4 weights two per byte, unpacked by shifts). dsp,
    int8: a block widens its pixels' rows once into a stack buffer (2 bytes per value and pixel; rows up to 576
    values for three pixels, 3,456 bytes of stack: ResNet-8's 3x3 layers over 32 and 64 channels -8% to -14%
    modeled M4 cycles; 384 for two) when several output-channel pairs reuse them, as long as those buffers take at
    most half the firmware's stack (boards.STACK_BYTES: 4 KB of 8). A gathered block of three whose
    window rows are whole words widens three neighbours' windows straight from the input where they lie inside
    it, without the gather (conv.c.j2 `win`: ResNet-8's 16-channel 3x3 layers -7%)."""
    px = 1 if isa == "mve" else 3 if isa == "dsp" and bits == 8 and wide and out_c <= 256 else 2
    xw = int(isa == "dsp" and bits == 8 and 8 <= ka <= (576 if px == 3 else 384) and out_c >= 16 and
             _stack_bytes(px, out_c, ka, True) <= STACK_BYTES // 2)
    return px, xw


def _name(sp: Special) -> str:
    c = dict(sp.consts)
    wide = "_px3" if c["PX"] == 3 and not c["DIRECT"] else ""
    # `_w8`: dsp, int8 rows where the kernel could read int16 ones (pairs of widened rows, or narrowed for flash)
    w8 = "_w8" if sp.isa == "dsp" and c["BITS"] == 8 and not c.get("W16") and not c.get("CS") else ""
    return f"conv_{sk.window(sp)}_c{c['CIN']}x{c['COUT']}_s{c['BITS']}_{sp.isa}" + sk.stage_name(sp) + wide + \
        sk.compact_name(sp) + w8


def _stack(sp: Special) -> int:
    """A staged block's outputs and the pixel rows widened once (two bytes per value and pixel)."""
    c = dict(sp.consts)
    return _stack_bytes(c["PX"], c["COUT"], c["KA"], bool(c.get("XW")))


def _stack_bytes(px: int, out_c: int, ka: int, xw: bool) -> int:
    """Stack bytes of a block of `px` pixels: its staged outputs (blocks of three) and, with `xw`, its pixels'
    first `ka` values widened once (two bytes per value and pixel)."""
    rows = 2 * (ka // 4 * 4) * px if xw else 0
    return rows + (3 * out_c if px == 3 else 0)


def call_blocks(sp: Special, p: object) -> frozenset[int | str]:
    """The blocks shorter than three pixels (1, 2) that a call of a three-pixel convolution kernel with params
    `p` runs, and for a 1x1 how it walks the pixels ("run": as one run across rows, `one_run`; "rows": row by row,
    three at a time with the row's last one or two alone, or in rows narrower than three pairs across rows); a
    gathered convolution takes every pixel three at a time in raster order. The emitter leaves out the functions
    and the walks no call runs (code size); other kernels: both blocks."""
    if sp.family != "conv" or sp.const("PX") != 3 or not isinstance(p, ConvParams):
        return frozenset((1, 2))
    n = p.out_h * p.out_w
    if sp.const("DIRECT") and p.out_w < 3:
        return frozenset(([2] if n >= 2 else []) + ([1] if n % 2 else []) + ["rows"])
    if not sp.const("DIRECT"):
        return frozenset([n % 3] if n % 3 else [])
    run = one_run(p)
    r = (n if run else p.out_w) % 3
    return frozenset(([r] if r else []) + ["run" if run else "rows"])


def one_run(p: ConvParams) -> bool:
    """Whether a 1x1 convolution's call takes its pixels as one run, three at a time across rows (conv.c.j2, the
    same test at run time): stride 1, no padding or cropping, input and output rows of the same width, the output
    dense; e.g. kws's 25 x 5 maps, 41 blocks of three and one of two instead of a three and a two per row."""
    return p.stride_h == p.stride_w == 1 and p.pad_h == p.pad_w == 0 and p.in_w == p.out_w and p.out_w >= 3 and \
        p.out_px_stride in (0, p.out_c) and p.out_row_stride in (0, p.out_w * p.out_c)


FAMILY = Family("conv", ("tml_conv_s8", "tml_conv_s4"), select, _name, stack=_stack, derived=sk.staged_derived,
                unread=("multiplier", "shift"), staged=True, compact=sk.compact, narrow=sk.narrow, mve=True)
