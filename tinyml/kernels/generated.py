"""Which generated kernel runs each layer: signatures, the selector, and the constants prepared for it.

The portable runtime kernels in `runtime_c/src` are the specification. For the layers that carry nearly all the
MACs (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED), the code generator emits a kernel specialized for the layer's
signature: channel counts, kernel size, strides, dilation and weight width are compile-time constants, so loops
unroll and the border checks leave the interior; spatial sizes, padding and output strides stay run-time values
(every patch region of a layer calls the same function). Layers with one signature share one function. Pooling
(four channels per word) and same-shape ADD/SUB/MUL (their multipliers as constants, four values per word) get
generated kernels too.

`select(kernel, isa)` returns the `Special` for a lowered kernel call, or None when the portable kernel stays
(grouped convolutions, depth multipliers above 1, batches, an int4 depthwise, a non-zero weight zero point).
`isa`: "dsp" (Armv7E-M SIMD through tml_simd.h: SXTB16/SMLAD/SMLABB, register blocking; the same C runs on the
host and on cores without DSP through portable definitions of those instructions) or "portable" (the same
structure with plain C inner loops, for Cortex-M0+/M3).

What the kernels compute differs from TFLM's loops only in the order of integer additions, which does not change
an int32 sum: the input offset is folded into the bias at generation time (bias + input_offset * sum of the
weights), and padding taps read the input zero point instead of being skipped, so each contributes
(zero point + input_offset) * w = 0, exactly as a skipped tap does. Requantization is tml_requant, proven equal
to TFLM's MultiplyByQuantizedMultiplier for every multiplier tinyml computes.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .. import fixedpoint as fp
from ..errors import TinymlError
from ..ir import NO_TENSOR, Graph
from ..params import (
    AccumulateParams,
    BroadcastParams,
    ConvParams,
    FullyConnectedParams,
    Kernel,
    LstmParams,
    PoolParams,
    SvdfParams,
)

ISAS = ("auto", "dsp", "portable", "reference")


def resolve_isa(kernels: str, board_dsp: bool | None) -> str | None:
    """The kernel flavour for `--kernels` (auto: dsp unless the board's core lacks the DSP extension; reference:
    None, the portable runtime kernels everywhere)."""
    if kernels not in ISAS:
        raise TinymlError(f"--kernels '{kernels}' is not one of {', '.join(ISAS)}")
    if kernels == "reference":
        return None
    if kernels != "auto":
        return kernels
    return "portable" if board_dsp is False else "dsp"


@dataclass(frozen=True)
class Const:
    """A constant array prepared at generation time (reordered weights, folded biases), emitted in flash."""
    key: str            # what it is, for its C name and comment
    ctype: str          # int8_t, int16_t, int32_t
    data: bytes         # little-endian values of that type

    def values(self) -> np.ndarray:
        return np.frombuffer(self.data, {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32}[self.ctype])


@dataclass(frozen=True)
class Special:
    """A kernel generated for one signature."""
    family: str                      # template family: conv, depthwise, dw_inplace, fc, fc_acc, pool, add, chsum,
                                     # lstm, svdf
    isa: str                         # dsp or portable
    consts: tuple[tuple[str, int], ...]  # the template's compile-time constants
    scratch: int = 0                 # bytes of scratch one call needs (im2col of two pixels)
    px_block: int = 1                # output pixels written together (for the overlap analysis)
    staged: bool = False             # each block's outputs are stored after its last input read
    weights: str = "original"        # how the weights are laid out for it (see derived())
    c: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        c = dict(self.consts)
        if self.family == "lstm":
            return f"lstm_i{c['I']}_u{c['U']}_s8_{self.isa}"
        if self.family == "svdf":
            return f"svdf_i{c['I']}_f{c['F']}_m{c['M']}_r{c['RANK']}_s{c['BITS']}_{self.isa}"
        if self.family == "fc_acc":
            return f"fc_acc_{c['DEPTH']}x{c['OUTC']}_s8_{self.isa}"
        if self.family == "chsum":
            return f"chsum_c{c['C']}" + (f"_n{c['N']}" if c["N"] else "") + f"_{self.isa}"
        if self.family == "pool":
            return (f"{'maxpool' if c['MAX'] else 'avgpool'}_{c['FH']}x{c['FW']}_s{c['SH']}x{c['SW']}_c{c['C']}"
                    f"_a{c['ACT_MIN']}_{c['ACT_MAX']}_{self.isa}").replace("-", "m")
        if self.family == "add":  # every constant of the output stage is part of the signature
            return (("mul_" if c["MUL"] else "add_") + "_".join(str(v) for _, v in self.consts[1:]) +
                    f"_{self.isa}").replace("-", "m")
        wide = "_px3" if self.family == "conv" and c["PX"] == 3 and not c["DIRECT"] else ""
        return self._name() + self._stage() + wide

    def _stage(self) -> str:
        """The output stage's part of a name: the zero point (`_or`: read at run time; none where the code does
        not read it), the activation range (`_ar`: read at run time), `_rq` for tml_requant, `_relu` for
        tml_requant_pre_relu where no zero point in the name implies it."""
        c = dict(self.consts)
        off = "_or" if c.get("RT_OFF") else f"_o{c['OUT_OFF']}" if "OUT_OFF" in c else ""
        act = "_ar" if c.get("RT_ACT") else f"_a{c['ACT_MIN']}_{c['ACT_MAX']}"
        rq = "_rq" if not c["RQ"] else "_relu" if c["RQ"] == 2 and not off else ""
        return (off + act).replace("-", "m") + rq

    def _name(self) -> str:
        c = dict(self.consts)
        if self.family == "conv":
            geo = f"{c['KH']}x{c['KW']}_s{c['SH']}x{c['SW']}" + (f"_d{c['DH']}x{c['DW']}" if c["DH"] * c["DW"] > 1
                                                                 else "")
            return f"conv_{geo}_c{c['CIN']}x{c['COUT']}_s{c['BITS']}_{self.isa}"
        if self.family == "depthwise":
            geo = f"{c['KH']}x{c['KW']}_s{c['SH']}x{c['SW']}" + (f"_d{c['DH']}x{c['DW']}" if c["DH"] * c["DW"] > 1
                                                                 else "")
            return f"dw_{geo}_c{c['C']}_s{c['BITS']}_{self.isa}"
        if self.family == "dw_inplace":
            geo = f"{c['KH']}x{c['KW']}_s{c['SH']}x{c['SW']}" + (f"_d{c['DH']}x{c['DW']}" if c["DH"] * c["DW"] > 1
                                                                 else "")
            return f"dw_inplace_{geo}_c{c['C']}_{self.isa}"
        return f"fc_{c['DEPTH']}x{c['OUTC']}_s{c['BITS']}_{self.isa}"

    def const(self, name: str) -> int:
        return dict(self.consts)[name]

    @property
    def stack(self) -> int:
        """Bytes of stack one call uses for its buffers (not the arena): a staged block's outputs, pixel rows
        widened once, a depthwise kernel's row of zero points."""
        c = dict(self.consts)
        if self.family == "conv":
            xw = 2 * (c["KA"] // 4 * 4) if c.get("XW") else 0  # two bytes per value and pixel
            if c["PX"] == 3:
                return 3 * c["COUT"] + 3 * xw
            return 2 * xw
        if self.family == "depthwise" and c["C"] <= 512:
            return -(-c["C"] // 4) * 4
        if self.family == "svdf":  # the filters' feature sums
            return 4 * c["F"]
        return 0

    @property
    def border(self) -> str | None:
        """The shared function a depthwise kernel calls for pixels whose window leaves the input (any channel
        count: one per kernel geometry and output stage, or run-time stage, not per layer signature), or None: its
        own, for layers wider than 512 channels (their zero-point row would not fit the stack)."""
        c = dict(self.consts)
        if self.family != "depthwise" or c["C"] > 512:
            return None
        return f"dwb_{c['KH']}x{c['KW']}_d{c['DH']}x{c['DW']}{self._stage()}_{self.isa}"

    @property
    def unread(self) -> tuple[str, ...]:
        """Array fields of the parameter struct this kernel never reads (emitted as NULL, no table in flash): the
        requantization records replace the multipliers and shifts; ADD/MUL read their operands densely."""
        if self.family in ("conv", "depthwise", "dw_inplace", "fc"):
            return ("multiplier", "shift")
        if self.family == "add":
            return ("a_stride", "b_stride")
        return ()


def pixel_block(sp: Special | None) -> int:
    """The block of output pixels the overlap analysis must assume for a layer run by `sp` (None: the runtime
    kernel): blocks whose outputs are written while their inputs are still read need a gap for the whole block; a
    staged block (outputs stored after the block's last read) is as safe as a kernel that finishes each pixel
    before reading the next one, so it needs only the pixel-by-pixel gap."""
    if sp is None or sp.staged:
        return 1
    return sp.px_block


def short_blocks(sp: Special, p: object) -> frozenset[int]:
    """The blocks shorter than three pixels (1, 2) that a call of a three-pixel convolution kernel with params
    `p` runs: a 1x1 takes each row three at a time (the row's last one or two alone) or, in rows narrower than
    three, pairs across rows; a gathered convolution takes every pixel three at a time in raster order. The
    emitter leaves out the functions for blocks no call runs (code size); other kernels: both."""
    if sp.family != "conv" or sp.const("PX") != 3 or not isinstance(p, ConvParams):
        return frozenset((1, 2))
    n = p.out_h * p.out_w
    if sp.const("DIRECT") and p.out_w < 3:
        return frozenset(([2] if n >= 2 else []) + ([1] if n % 2 else []))
    r = (p.out_w if sp.const("DIRECT") else n) % 3
    return frozenset([r] if r else [])


def _bits(func: str) -> int:
    return 4 if func.endswith("_s4") else 8


def _output_stage(p: ConvParams | FullyConnectedParams) -> tuple[tuple[str, int], ...]:
    """The output stage as constants: RQ = 1 (tml_requant_pre) when every channel's multiplier is in (2^30, 2^31)
    and its shift in [-22, -2] (the output zero point then folds into the records without overflow), RQ = 2
    (tml_requant_pre_relu) when besides the activation minimum is at or above the output zero point, else 0
    (tml_requant); the output zero point and the activation range."""
    fast = int(all(m > (1 << 30) and -22 <= s <= -2 for m, s in zip(p.multiplier, p.shift)))
    if fast and p.act_min >= p.output_offset:
        fast = 2
    return (("RQ", fast), ("OUT_OFF", p.output_offset), ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max))


# Layers of one kernel geometry share functions across output stages where the code allows: the output zero point
# is left out of the constants where the requantization records hold it (RQ 1 and 2: the very same code, so
# whenever that leaves fewer functions), and where more than STAGES_PER_GEOMETRY layers differ, read at run
# time where tml_requant adds it (RQ 0). Where more than STAGES_PER_GEOMETRY functions would still remain (deep
# models whose layers each have their own zero point and activation range), one for the geometry reads its
# activation range at run time too (a few instructions per output; code size and host compile time). The
# run-time values follow the requantization records: zero point, activation minimum, activation maximum, 0.
STAGES_PER_GEOMETRY = 4
STAGED_FAMILIES = ("conv", "depthwise", "dw_inplace", "fc")  # the families whose kernels end in an output stage
_STAGE = ("RQ", "OUT_OFF", "ACT_MIN", "ACT_MAX")


def code_stage(sp: Special) -> Special:
    """`sp` (of a STAGED_FAMILIES family) without its output zero point among the constants: RQ 1 and 2 do not
    read it (the records hold it), RQ 0 reads it at run time."""
    rq = dict(sp.consts)["RQ"]
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] != "OUT_OFF") + ((("RT_OFF", 1),) if not rq
                                                                                        else ()))


def runtime_stage(sp: Special) -> Special:
    """`sp` (of a STAGED_FAMILIES family) with its activation range (and, for RQ 0, its zero point) read at run
    time: the records of tml_requant_pre (RQ 1, the general form of RQ 2) or of tml_requant (RQ 0)."""
    rq = min(dict(sp.consts)["RQ"], 1)
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] not in _STAGE) +
                   (("RQ", rq), ("RT_ACT", 1)) + ((("RT_OFF", 1),) if not rq else ()))


def _shared_stages(specials: list[Special]) -> dict[Special, Special]:
    """The kernel that each of `specials` gives way to where layers of its geometry share functions (see
    STAGES_PER_GEOMETRY)."""
    groups: dict[Special, set[Special]] = {}
    for sp in specials:
        if sp.family in STAGED_FAMILIES:
            groups.setdefault(runtime_stage(sp), set()).add(sp)
    out: dict[Special, Special] = {}
    for rt, sps in groups.items():
        coded = {sp: code_stage(sp) for sp in sps}
        if len(sps) > STAGES_PER_GEOMETRY:
            out.update(coded if len(set(coded.values())) <= STAGES_PER_GEOMETRY else dict.fromkeys(sps, rt))
        elif rt.const("RQ") and len(set(coded.values())) < len(sps):  # fewer functions, the very same code
            out.update(coded)
    return out


def _depthwise_or_conv(kern: Kernel, isa: str) -> Special | None:
    """A depthwise convolution of one input channel (depth multiplier = output channels) is a convolution (not
    the in-place kernel: its channel plane is its own scratch, the dw_inplace family runs it); int8 weights
    otherwise take the depthwise family, int4 ones the runtime kernel."""
    p = kern.params
    if isinstance(p, ConvParams) and p.in_c == 1:
        return _conv(kern, isa)
    return _depthwise(kern, isa) if kern.func == "tml_depthwise_conv_s8" else None


def _conv(kern: Kernel, isa: str) -> Special | None:
    """CONV_2D (and a DEPTHWISE_CONV_2D of one input channel): the conv family."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    as_conv = kern.func.startswith("tml_depthwise_conv_")  # one input channel (see _depthwise_or_conv)
    if p.batches != 1 or (p.filter_in_c != p.in_c and not as_conv):
        return None
    bits = _bits(kern.func)
    # 1x1 without padding: the GEMM reads the input pixels where they are; else two pixels are gathered
    # (im2col) into scratch rows padded to whole SIMD steps, the padding taps filled with the zero point
    direct = p.k_h == 1 and p.k_w == 1 and p.pad_h <= 0 and p.pad_w <= 0
    k = p.k_h * p.k_w * p.in_c
    step = 8 if bits == 4 else 4
    kp = -(-k // step) * step  # weight rows (and im2col rows) in whole SIMD steps, zero weights after k
    if bits == 8 and direct:
        kp = k
    ka = (k // step) * step if direct else kp  # elements the SIMD loop covers (a direct row has k)
    # dsp, int8 weights: two output channels x three pixels per pass (the weights stay widened in registers
    # while three pixels meet them) for a 1x1 read in place, and for a gathered (im2col) convolution whose
    # call the memory plan marked "wide" (room for a third row of scratch that does not raise the peak:
    # memory.techniques.widen_im2col); otherwise two x two. Blocks of three stage their outputs (3 x out_c
    # bytes of stack).
    wide = direct or kern.variant == "wide"
    px = 3 if isa == "dsp" and bits == 8 and wide and p.out_c <= 256 else 2
    # dsp, int8: a block widens its pixels' rows once into a stack buffer (2 bytes per value and pixel; rows
    # up to 256 values for three pixels, 384 for two) when several output-channel pairs reuse them
    xw = int(isa == "dsp" and bits == 8 and 8 <= ka <= (256 if px == 3 else 384) and p.out_c >= 16)
    consts = (("CIN", p.in_c), ("COUT", p.out_c), ("KH", p.k_h), ("KW", p.k_w), ("SH", p.stride_h),
              ("SW", p.stride_w), ("DH", p.dil_h), ("DW", p.dil_w), ("BITS", bits), ("K", k), ("KP", kp),
              ("KA", ka), ("DIRECT", int(direct)), ("PX", px), ("XW", xw)) + _output_stage(p)
    # (three pixels of a row at fixed distances, pairs across rows narrower than three; staged outputs)
    return Special("conv", isa, consts, scratch=0 if direct else px * kp, px_block=px, staged=px == 3,
                   weights="original" if bits == 8 and kp == k and not as_conv else "conv_rows")


def _dw_inplace(kern: Kernel, isa: str) -> Special | None:
    """The in-place DEPTHWISE_CONV_2D the memory plan chose: the dw_inplace family."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    if p.pad_h < 0 or p.pad_w < 0:
        return None
    consts = (("C", p.in_c), ("KH", p.k_h), ("KW", p.k_w), ("SH", p.stride_h), ("SW", p.stride_w),
              ("DH", p.dil_h), ("DW", p.dil_w), ("BITS", 8)) + _output_stage(p)
    # the channel plane with the padding around it (the zero point), so that every pixel is an inside one
    rows = (p.out_h - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1
    cols = (p.out_w - 1) * p.stride_w + (p.k_w - 1) * p.dil_w + 1
    return Special("dw_inplace", isa, consts, scratch=rows * cols)


def _depthwise(kern: Kernel, isa: str) -> Special | None:
    """DEPTHWISE_CONV_2D with int8 weights and depth multiplier 1: the depthwise family."""
    p = kern.params
    if not isinstance(p, ConvParams):
        return None
    if p.batches != 1 or p.depth_multiplier != 1:
        return None
    consts = (("C", p.in_c), ("KH", p.k_h), ("KW", p.k_w), ("SH", p.stride_h), ("SW", p.stride_w),
              ("DH", p.dil_h), ("DW", p.dil_w), ("BITS", 8)) + _output_stage(p)
    return Special("depthwise", isa, consts, weights="dw16" if isa == "dsp" else "original")


def _pool(kern: Kernel, isa: str) -> Special | None:
    """AVERAGE_POOL_2D and MAX_POOL_2D of one batch: the pool family."""
    p = kern.params
    if not isinstance(p, PoolParams):
        return None
    is_max = kern.func == "tml_maxpool_s8"
    # average: 16-bit lane sums (SXTAB16) hold at most 255 taps of int8 values
    if p.batches != 1 or (not is_max and p.filter_h * p.filter_w > 255):
        return None
    return Special("pool", isa, (("C", p.channels), ("FH", p.filter_h), ("FW", p.filter_w), ("SH", p.stride_h),
                                 ("SW", p.stride_w), ("MAX", int(is_max)), ("ACT_MIN", p.act_min),
                                 ("ACT_MAX", p.act_max)))


def _add(kern: Kernel, isa: str) -> Special | None:
    """ADD, SUB and MUL whose operands are read at the output's index: the add family."""
    p = kern.params
    if not isinstance(p, BroadcastParams):
        return None
    dense = (p.d1 * p.d2 * p.d3, p.d2 * p.d3, p.d3, 1)
    dims = (p.d0, p.d1, p.d2, p.d3)
    same = all(all(s == d or n == 1 for s, d, n in zip(st, dense, dims)) for st in (p.a_stride, p.b_stride))
    # both operands read at the output's own index; every multiplier below one, as tml_requant's rounding
    # shortcut needs (TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp)
    if kern.func == "tml_mul_s8":  # tml_requant is MultiplyByQuantizedMultiplier for any shift when m >= 0
        if not same or p.output_multiplier < 0:
            return None
        return Special("add", isa, (("MUL", 1), ("AO", p.a_offset), ("BO", p.b_offset),
                                    ("OM", p.output_multiplier), ("OS", p.output_shift),
                                    ("OUT_OFF", p.output_offset), ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max)))
    if not same or max(p.a_shift, p.b_shift, p.output_shift) > 0 or \
            min(p.a_multiplier, p.b_multiplier, p.output_multiplier) < 0:
        return None
    return Special("add", isa, (("MUL", 0), ("LS", p.left_shift), ("AO", p.a_offset), ("AM", p.a_multiplier),
                                ("AS", p.a_shift), ("BO", p.b_offset), ("BM", p.b_multiplier), ("BS", p.b_shift),
                                ("OM", p.output_multiplier), ("OS", p.output_shift), ("OUT_OFF", p.output_offset),
                                ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max), ("SUB", p.is_sub)))


def _lstm(kern: Kernel, isa: str) -> Special | None:
    """UNIDIRECTIONAL_SEQUENCE_LSTM with the DSP extension: the lstm family."""
    p = kern.params
    if not isinstance(p, LstmParams):
        return None
    if isa != "dsp":
        return None
    # the four gates' FCs of a unit as SIMD dot products of constant length (the zero points are folded in
    # the runtime kernel's per-row constants already); the portable flavour keeps the runtime kernel
    return Special("lstm", isa, (("I", p.input_size), ("U", p.units), ("KI", (p.input_size // 4) * 4),
                                 ("KU", (p.units // 4) * 4)))


def _svdf(kern: Kernel, isa: str) -> Special | None:
    """SVDF of up to 512 filters with the DSP extension: the svdf family."""
    p = kern.params
    if not isinstance(p, SvdfParams):
        return None
    if not (isa == "dsp" and p.filters <= 512):
        return None
    # the feature matmul as SIMD dot products of constant length, four filters per pass (their int32 sums on
    # the stack: up to 2 KB); an int16 state's time dot products as SMLAD on pairs
    return Special("svdf", isa, (("I", p.input_size), ("F", p.filters), ("M", p.memory), ("RANK", p.rank),
                                 ("BITS", 16 if kern.func == "tml_svdf_s8" else 8),
                                 ("KI", (p.input_size // 4) * 4)))


def _chsum(kern: Kernel, isa: str) -> Special | None:
    """A band's channel sums with the DSP extension: the chsum family."""
    p = kern.params
    if not isinstance(p, AccumulateParams):
        return None
    if isa != "dsp":
        return None
    # a band's channel sums (AVERAGE_POOL_2D / MEAN as a patch stage): four channels per word, the portable
    # runtime kernel elsewhere (a generated one would be the same loop); a band of at most 16 pixels has its
    # pixel count as a constant (the loop unrolled: row pipelines call it once per row of a few pixels)
    return Special("chsum", isa, (("C", p.out_c), ("N", p.count if p.count <= 16 else 0)))


def _fc_acc(kern: Kernel, isa: str) -> Special | None:
    """A band of a FULLY_CONNECTED reduction: the fc_acc family."""
    p = kern.params
    if not isinstance(p, AccumulateParams):
        return None
    if p.filter_offset != 0:
        return None
    return Special("fc_acc", isa, (("DEPTH", p.accum_depth), ("OUTC", p.out_c), ("BITS", 8)))


def _fc(kern: Kernel, isa: str) -> Special | None:
    """FULLY_CONNECTED with int8 or int4 weights: the fc family."""
    p = kern.params
    if not isinstance(p, FullyConnectedParams):
        return None
    if p.filter_offset != 0:
        return None
    bits = _bits(kern.func)
    d = p.accum_depth
    consts = (("DEPTH", d), ("OUTC", p.out_c), ("BITS", bits), ("KP", -(-d // 8) * 8 if bits == 4 else d),
              ("KA", (d // 8) * 8 if bits == 4 else (d // 4) * 4)) + _output_stage(p)
    return Special("fc", isa, consts, weights="original" if bits == 8 else "conv_rows")


# the one table from a runtime kernel to the selector of the generated family that may replace it
_SELECTORS: dict[str, Callable[[Kernel, str], Special | None]] = {
    "tml_conv_s8": _conv, "tml_conv_s4": _conv,
    "tml_depthwise_conv_s8": _depthwise_or_conv, "tml_depthwise_conv_s4": _depthwise_or_conv,
    "tml_depthwise_conv_inplace_s8": _dw_inplace,
    "tml_avgpool_s8": _pool, "tml_maxpool_s8": _pool,
    "tml_add_s8": _add, "tml_mul_s8": _add,
    "tml_lstm_s8": _lstm, "tml_svdf_s8": _svdf, "tml_svdf_s8_s8state": _svdf,
    "tml_channel_sum_acc_s8": _chsum, "tml_fully_connected_acc_s8": _fc_acc,
    "tml_fully_connected_s8": _fc, "tml_fully_connected_s4": _fc,
}


@functools.lru_cache(maxsize=4096)
def select(kern: Kernel, isa: str) -> Special | None:
    """The generated kernel for this call, or None to keep the portable runtime kernel."""
    family = _SELECTORS.get(kern.func)
    return None if family is None else family(kern, isa)


def _weights(g: Graph, t: int) -> np.ndarray:
    """The weights of tensor `t` as int8 values (int4 unpacked)."""
    w = g.tensor(t)
    assert w.data is not None
    return np.asarray(w.data).astype(np.int64)


def _pack_rows(w: np.ndarray, kp: int, bits: int) -> Const:
    """Rows of `w` ([rows, k]) padded with zeros to kp; int4: packed so that one 32-bit word holds 8 values whose
    low nibbles are elements 0-3 and high nibbles elements 4-7 (unpacked with two masks and SXTB16)."""
    rows, k = w.shape
    pad = np.zeros((rows, kp), np.int64)
    pad[:, :k] = w
    if bits == 8:
        return Const(f"rows{kp}", "int8_t", pad.astype(np.int8).tobytes())
    g8 = pad.reshape(rows, kp // 8, 2, 4) & 0xF  # [row][group][low/high][byte]
    packed = (g8[:, :, 0, :] | (g8[:, :, 1, :] << 4)).astype(np.uint8)
    return Const(f"nibbles{kp}", "int8_t", packed.tobytes())


def requant_records(p: ConvParams | FullyConnectedParams, folded: np.ndarray, fast: int) -> np.ndarray:
    """Four int32 per output channel: the bias with the input offset folded in, the multiplier, and e - 1 and
    2^(e - 2) + z * 2^(e - 1) with e = -shift and z the output zero point (`fast`: tml_requant_pre and
    tml_requant_pre_relu, which add z themselves) or the shift and 0 (tml_requant)."""
    n = len(folded)
    mult = np.resize(np.asarray(p.multiplier, np.int64), n)
    shift = np.resize(np.asarray(p.shift, np.int64), n)
    rec = np.zeros((n, 4), np.int64)
    rec[:, 0], rec[:, 1] = folded, mult
    if fast:
        rec[:, 2] = -shift - 1
        rec[:, 3] = np.left_shift(1, -shift - 2) + p.output_offset * np.left_shift(1, -shift - 1)
    else:
        rec[:, 2] = shift
    return rec.astype(np.int32)


def derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """(weights, requantization records) arguments of the generated kernel for `kern`: the original weight tensor
    or a reordered copy, and per output channel the bias with the input offset folded in (input_offset * sum of
    the channel's weights) and its requantization constants (requant_records)."""
    p = kern.params
    if sp.family == "add" and not sp.const("MUL"):
        # ADD/SUB: each operand's rescaled value depends on that operand alone, so both are tabulated over the 256
        # int8 values (TFLM's arithmetic, as the reference executor computes it); one requantization per element
        assert isinstance(p, BroadcastParams)
        x = np.arange(-128, 128, dtype=np.int64)
        ta = fp.mbqm_lt_one(fp.wrap32((x + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
        tb = fp.mbqm_lt_one(fp.wrap32((x + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
        return (Const("addtab", "int32_t", np.concatenate([ta, tb]).astype(np.int32).tobytes()),)
    if sp.family in ("pool", "add", "chsum"):  # nothing prepared: the constants are in the code
        return ()
    if sp.family == "lstm":  # the weights and biases as they are (the parameter struct holds the folded offsets)
        return tuple(kern.args[1:13])
    if sp.family == "svdf":
        return tuple(kern.args[1:4])
    if sp.family == "fc_acc":  # the weights as they are, the input offset added while widening the input
        return (kern.args[1],)
    wt, bt = kern.args[1], kern.args[2]
    w = _weights(g, wt)
    bias = np.zeros(w.shape[-1] if sp.family == "depthwise" else w.shape[0], np.int64) if bt == NO_TENSOR else \
        np.asarray(g.tensor(bt).data).astype(np.int64)
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    if kern.func.startswith("tml_depthwise_conv_"):
        rows = w.reshape(-1, w.shape[-1])          # [taps, C]
        folded = bias + p.input_offset * rows.sum(axis=0)
        if sp.family == "conv":                    # one input channel: output channel c's row is column c
            rows = np.ascontiguousarray(rows.T)
    else:
        rows = w.reshape(w.shape[0], -1)           # [out_c, K]
        folded = bias + p.input_offset * rows.sum(axis=1)
    rec = requant_records(p, folded, sp.const("RQ")).tobytes()
    stage = dict(sp.consts)
    if stage.get("RT_OFF") or stage.get("RT_ACT"):  # the output stage after them, read at run time
        rec += np.array([p.output_offset, p.act_min, p.act_max, 0], np.int32).tobytes()
    b = Const("rq", "int32_t", rec)
    if sp.weights == "original":
        return wt, b
    if sp.weights == "conv_rows":
        return _pack_rows(rows, sp.const("KP"), sp.const("BITS")), b
    assert sp.weights == "dw16"
    # int16, four channels at a time: group g's taps are contiguous (one LDRD per tap at a small positive offset),
    # each tap's four weights in the lane order SXTB16 gives the input, (c0, c2) then (c1, c3); the channels past
    # the last whole group follow, tap by tap
    taps, c = rows.shape
    c4 = c - c % 4
    groups = rows[:, :c4].reshape(taps, c4 // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
    data = np.concatenate([groups.reshape(-1), rows[:, c4:].reshape(-1)])
    return Const("dw16", "int16_t", data.astype(np.int16).tobytes()), b


def fits_int32(sp: Special, kern: Kernel, g: Graph) -> bool:
    """The int4 path multiplies weights scaled by 16 and shifts the sum back, which is exact only while
    16 * sum |w * x| stays inside int32 (the int8 paths wrap modulo 2^32 like TFLM's own int32 sums, and their
    result is TFLM's whenever TFLM's is)."""
    if sp.family in ("pool", "add", "chsum", "lstm", "svdf") or sp.const("BITS") != 4:
        return True
    w = _weights(g, kern.args[1])
    rows = w.reshape(-1, w.shape[-1]).T if kern.func.startswith("tml_depthwise_conv_") else w.reshape(w.shape[0], -1)
    return bool((np.abs(rows).sum(axis=1) * 128 * 16).max(initial=0) < (1 << 31))


def choose(kern: Kernel, isa: str | None, g: Graph) -> Special | None:
    """The generated kernel for this call under `isa` (None: the portable runtime kernels only)."""
    if isa is None:
        return None
    sp = select(kern, isa)
    return sp if sp is not None and fits_int32(sp, kern, g) else None


def in_place(kern: Kernel, args: tuple) -> Kernel | None:
    """The call that runs depthwise convolution `kern` in place, its output written over its input channel by
    channel through a channel plane (`args`: input, weights, bias, the plane's scratch buffer, output), or None
    where the in-place kernel cannot run it (int4 weights, a depth multiplier above 1, batches)."""
    p = kern.params
    if kern.func != "tml_depthwise_conv_s8" or not isinstance(p, ConvParams) or p.depth_multiplier != 1 or \
            p.batches != 1:
        return None
    return replace(kern, func="tml_depthwise_conv_inplace_s8", args=args)


def widened(kern: Kernel) -> Kernel:
    """`kern` as its wide variant: a gathered convolution given room for a third im2col row (three pixels per pass;
    the memory plan decides where that room is, see memory.techniques.widen_im2col)."""
    return replace(kern, variant="wide")


def wide_kernel(kern: Kernel, isa: str | None, g: Graph) -> Special | None:
    """The generated kernel of `kern`'s wide variant under `isa` if it gathers three pixels per pass, else None
    (the variant changes nothing there)."""
    sp = choose(widened(kern), isa, g)
    return sp if sp is not None and sp.family == "conv" and sp.const("PX") == 3 and not sp.const("DIRECT") else None


def select_calls(schedule: list[tuple[int, list[Kernel]]], isa: str | None, g: Graph
                 ) -> list[tuple[int, list[Kernel]]]:
    """The kernel selector, run once on the planned schedule: every call with its decision stored (`chosen`),
    which the emitter and the report read (the memory planner asks `choose` what a call would get: the same
    kernel, or the same geometry with its output stage read at run time, see STAGES_PER_GEOMETRY)."""
    picks = [(k, [(kern, choose(kern, isa, g)) for kern in ks]) for k, ks in schedule]
    shared = _shared_stages([sp for _, ks in picks for _, sp in ks if sp is not None])
    return [(k, [replace(kern, chosen=shared.get(sp, sp) if sp else None) for kern, sp in ks]) for k, ks in picks]


def chosen(kern: Kernel) -> Special | None:
    """The generated kernel the selector stored on call `kern` (None: the runtime kernel)."""
    assert kern.chosen is not ..., f"{kern.func}: the kernel selector has not run on this schedule"
    assert kern.chosen is None or isinstance(kern.chosen, Special)
    return kern.chosen
