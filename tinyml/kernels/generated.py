"""The kernel selector: which generated kernel runs each layer (the families themselves, one module each, are in
`tinyml/kernels/families/`; what they share in `special.py`).

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
host and on cores without DSP through portable definitions of those instructions), "mve" (Helium, Armv8.1-M's
M-profile Vector Extension, through tml_mve.h: sixteen int8 lanes, VMLADAVA reductions, VCTP-predicated tails;
portable definitions on the host likewise; a family without Helium code (`Family.mve` false), or a layer its
family's Helium code does not take, gets its dsp kernel, which the same cores run) or "portable" (the same
structure with plain C inner loops, for Cortex-M0+/M3).

What the kernels compute differs from TFLM's loops only in the order of integer additions, which does not change
an int32 sum: the input offset is folded into the bias at generation time (bias + input_offset * sum of the
weights), and padding taps read the input zero point instead of being skipped, so each contributes
(zero point + input_offset) * w = 0, exactly as a skipped tap does. Requantization is tml_requant, proven equal
to TFLM's MultiplyByQuantizedMultiplier for every multiplier tinyml computes.
"""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from ..boards import Board
from ..errors import TinymlError
from ..ir import Graph
from ..params import ConvParams, Kernel
from .families import REPLACES
from .special import Const, Special, long_accumulators, long_stage, steady_kernel, weights

ISAS = ("auto", "mve", "dsp", "portable", "reference")


def resolve_isa(kernels: str, board: Board | None) -> str | None:
    """The kernel flavour for `--kernels` on `board` (None: the host). auto: mve where the board's core has Helium,
    else dsp unless the core lacks the DSP extension; reference: None, the portable runtime kernels everywhere. mve
    on a board whose core has no Helium is refused (its portable definitions would run there, slowly)."""
    if kernels not in ISAS:
        raise TinymlError(f"--kernels '{kernels}' is not one of {', '.join(ISAS)}")
    if kernels == "reference":
        return None
    if kernels == "mve" and board is not None and not board.mve:
        raise TinymlError(f"--kernels mve needs a core with Helium (MVE), and board '{board.name}' has a "
                          f"{board.core}: use --kernels dsp or auto there (Helium boards: mps3-an547, or a board "
                          "file with mve = true)")
    if kernels != "auto":
        return kernels
    if board is None:
        return "dsp"
    return "mve" if board.mve else "dsp" if board.dsp else "portable"


def pixel_block(sp: Special | None) -> int:
    """The block of output pixels the overlap analysis must assume for a layer run by `sp` (None: the runtime
    kernel): blocks whose outputs are written while their inputs are still read need a gap for the whole block; a
    staged block (outputs stored after the block's last read) is as safe as a kernel that finishes each pixel
    before reading the next one, so it needs only the pixel-by-pixel gap."""
    if sp is None or sp.staged:
        return 1
    return sp.px_block


# Layers of one kernel geometry share functions across output stages where the code allows: the output zero point
# is left out of the constants where the requantization records hold it (RQ 1 and 2: the very same code, so
# whenever that leaves fewer functions), and where more than STAGES_PER_GEOMETRY layers differ, read at run
# time where tml_requant adds it (RQ 0). Where more than STAGES_PER_GEOMETRY functions would still remain (deep
# models whose layers each have their own zero point and activation range), one for the geometry reads its
# activation range at run time too (a few instructions per output; code size and host compile time). The
# run-time values follow the requantization records: zero point, activation minimum, activation maximum, 0.
STAGES_PER_GEOMETRY = 4
_STAGE = ("RQ", "OUT_OFF", "ACT_MIN", "ACT_MAX")


def code_stage(sp: Special) -> Special:
    """`sp` (of a family with an output stage) without its output zero point among the constants: RQ 1 and 2 do not
    read it (the records hold it), RQ 0 reads it at run time."""
    rq = dict(sp.consts)["RQ"]
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] != "OUT_OFF") + ((("RT_OFF", 1),) if not rq
                                                                                        else ()))


def runtime_stage(sp: Special) -> Special:
    """`sp` (of a family with an output stage) with its activation range (and, for RQ 0, its zero point) read at run
    time: the records of tml_requant_pre (RQ 1, the general form of RQ 2), of tml_requant_pre_relu1 (RQ 3: ReLU
    layers only, whose records have their own form) or of tml_requant (RQ 0)."""
    rq = {2: 1}.get(dict(sp.consts)["RQ"], dict(sp.consts)["RQ"])
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] not in _STAGE) +
                   (("RQ", rq), ("RT_ACT", 1)) + ((("RT_OFF", 1),) if not rq else ()))


def _shared_stages(specials: list[Special]) -> dict[Special, Special]:
    """The kernel that each of `specials` gives way to where layers of its geometry share functions (see
    STAGES_PER_GEOMETRY)."""
    groups: dict[Special, set[Special]] = {}
    for sp in specials:
        if sp.row.staged:
            groups.setdefault(runtime_stage(sp), set()).add(sp)
    out: dict[Special, Special] = {}
    for rt, sps in groups.items():
        coded = {sp: code_stage(sp) for sp in sps}
        if len(sps) > STAGES_PER_GEOMETRY:
            out.update(coded if len(set(coded.values())) <= STAGES_PER_GEOMETRY else dict.fromkeys(sps, rt))
        elif rt.const("RQ") and len(set(coded.values())) < len(sps):  # fewer functions, the very same code
            out.update(coded)
    return out


@functools.lru_cache(maxsize=4096)
def select(kern: Kernel, isa: str) -> Special | None:
    """The generated kernel for this call, or None to keep the portable runtime kernel."""
    family = REPLACES.get(kern.func)
    if family is None:
        return None
    return family.select(kern, "dsp" if isa == "mve" and not family.mve else isa)


def derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """The weight and constant arguments prepared for generated kernel `sp` running call `kern` (its family's
    `derived`: the original tensors, reordered copies, folded biases and requantization records)."""
    return sp.row.derived(sp, kern, g)


def fits_int32(sp: Special, kern: Kernel, g: Graph) -> bool:
    """The int4 path multiplies weights scaled by 16 and shifts the sum back, which is exact only while
    16 * sum |w * x| stays inside int32 (the int8 paths wrap modulo 2^32 like TFLM's own int32 sums, and their
    result is TFLM's whenever TFLM's is)."""
    if dict(sp.consts).get("BITS") != 4:
        return True
    w = weights(g, kern.args[1])
    rows = w.reshape(-1, w.shape[-1]).T if kern.func.startswith("tml_depthwise_conv_") else w.reshape(w.shape[0], -1)
    return bool((np.abs(rows).sum(axis=1) * 128 * 16).max(initial=0) < (1 << 31))


def choose(kern: Kernel, isa: str | None, g: Graph) -> Special | None:
    """The generated kernel for this call under `isa` (None: the portable runtime kernels only)."""
    if isa is None:
        return None
    sp = select(steady_kernel(kern, g), isa)
    if sp is None or not fits_int32(sp, kern, g):
        return None
    return long_stage(sp) if dict(sp.consts).get("MM") and long_accumulators(kern, g) else sp


def in_place(kern: Kernel, args: tuple) -> Kernel | None:
    """The call that runs depthwise convolution `kern` in place, its output written over its input channel by
    channel through a channel plane (`args`: input, weights, bias, the plane's scratch buffer, output), or None
    where the in-place kernel cannot run it (int4 weights, a depth multiplier above 1, batches)."""
    p = kern.params
    if kern.func != "tml_depthwise_conv_s8" or not isinstance(p, ConvParams) or p.depth_multiplier != 1 or \
            p.batches != 1:
        return None
    return replace(kern, func="tml_depthwise_conv_inplace_s8", args=args)


def simd(isa: str | None) -> bool:
    """Whether `isa` runs generated SIMD kernels (dsp, mve), whose speed the memory plan weighs."""
    return isa in ("dsp", "mve")


def in_place_slower(kern: Kernel, isa: str | None, g: Graph) -> bool:
    """Whether depthwise convolution `kern` runs slower in place (channel by channel through a plane) than out of
    place under `isa`: with generated SIMD kernels it does, unless the in-place kernel's family says it is the
    faster one there (`Family.faster_in_place`: dw_inplace's P16 kernel at stride 1 across). The memory plan runs
    each layer the faster way where the SRAM allows (memory.techniques._faster_in_place)."""
    if not simd(isa):
        return False  # the runtime kernels: the memory plan keeps the lowest peak
    call = in_place(kern, kern.args)
    sp = choose(call, isa, g) if call is not None else None
    return sp is None or not sp.row.faster_in_place(sp)


def widened(kern: Kernel) -> Kernel:
    """`kern` as its wide variant: a gathered convolution given room for a third im2col row (three pixels per pass;
    the memory plan decides where that room is, see memory.techniques.widen_im2col)."""
    return replace(kern, variant="wide")


def wide_kernel(kern: Kernel, isa: str | None, g: Graph) -> Special | None:
    """The generated kernel of `kern`'s wide variant under `isa` if it gathers three pixels per pass, else None
    (the variant changes nothing there)."""
    sp = choose(widened(kern), isa, g)
    return sp if sp is not None and sp.family == "conv" and sp.const("PX") == 3 and not sp.const("DIRECT") else None


def select_calls(schedule: list[tuple[int, list[Kernel]]], isa: str | None, g: Graph, compact: bool = False,
                 narrow: bool = False) -> list[tuple[int, list[Kernel]]]:
    """The kernel selector, run once on the planned schedule: every call with its decision stored (`chosen`),
    which the emitter and the report read (the memory planner asks `choose` what a call would get: the same
    kernel, or the same geometry with its output stage read at run time, see STAGES_PER_GEOMETRY). Code size
    against cycles: with `compact`, every kernel that has one takes its compact variant (shorter unrolled loops:
    up to 2 KB less code per model, a few percent more cycles; int8 weights); with `narrow`, kernels that widen
    their weights to int16 at generation time keep them int8 (flash against cycles)."""
    picks = [(k, [(kern, choose(kern, isa, g)) for kern in ks]) for k, ks in schedule]
    shared = _shared_stages([sp for _, ks in picks for _, sp in ks if sp is not None])

    def decide(sp: Special | None) -> Special | None:
        sp = shared.get(sp, sp) if sp else None
        if sp is not None and narrow:
            sp = sp.row.narrow(sp) or sp
        return (sp.row.compact(sp) or sp) if sp is not None and compact else sp
    return [(k, [replace(kern, chosen=decide(sp)) for kern, sp in ks]) for k, ks in picks]


def chosen(kern: Kernel) -> Special | None:
    """The generated kernel the selector stored on call `kern` (None: the runtime kernel)."""
    assert kern.chosen is not ..., f"{kern.func}: the kernel selector has not run on this schedule"
    assert kern.chosen is None or isinstance(kern.chosen, Special)
    return kern.chosen
