"""What every generated kernel family shares: a kernel generated for one signature (`Special`), the row that
describes a family (`Family`), the output stage as constants, and the constants prepared at generation time.

A family is one module in `tinyml/kernels/families/` (its `FAMILY` row: which runtime kernels it may replace and
the selector that decides, its functions' names, their stack use and the arguments prepared for them) and one
template, `codegen/templates/kernels/<family>.c.j2`, that spells it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .. import fixedpoint
from ..ir import NO_TENSOR, Graph
from ..params import ConvParams, FullyConnectedParams, Kernel


@dataclass(frozen=True)
class Const:
    """A constant array prepared at generation time (reordered weights, folded biases), emitted in flash."""
    key: str            # what it is, for its C name and comment
    ctype: str          # int8_t, int16_t, int32_t
    data: bytes         # little-endian values of that type

    def values(self) -> np.ndarray:
        return np.frombuffer(self.data, {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32}[self.ctype])


def _nothing(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    return ()


@dataclass(frozen=True)
class Family:
    """One generated kernel family: everything tinyml knows about it besides its template.

    `replaces`: the runtime kernels whose calls it may run; `select(kern, isa)`: its `Special` for such a call, or
    None to keep the runtime kernel; `name(sp)`: the function's name (every constant the code depends on);
    `stack(sp)`: bytes of stack one call uses for its buffers; `derived(sp, kern, g)`: the weight and constant
    arguments prepared for it; `unread`: array fields of the parameter struct it never reads (emitted as NULL);
    `staged`: its kernels end in an output stage (tml_requant with a zero point and an activation range) that
    layers of one geometry may share (tinyml.kernels.generated.STAGES_PER_GEOMETRY); `border(sp)`: the name of
    the shared function it calls for pixels whose window leaves the input, or None; `compact(sp)`: its variant with
    less code (shorter unrolled loops: more taken branches, a few percent more cycles), or None; `narrow(sp)`: its
    variant with int8 weights where it widens them to int16 at generation time (less flash), or None; `mve`: its
    template has Helium code (`select` is asked with isa "mve"; otherwise with "dsp"); `faster_in_place(sp)`: an
    in-place kernel that beats the pixel kernels running the same layer out of place (the memory plan then prefers
    it where the SRAM allows: kernels.in_place_slower)."""
    family: str
    replaces: tuple[str, ...]
    select: Callable[[Kernel, str], Special | None]
    name: Callable[[Special], str]
    stack: Callable[[Special], int] = lambda sp: 0
    derived: Callable[[Special, Kernel, Graph], tuple[int | Const, ...]] = _nothing
    unread: tuple[str, ...] = ()
    staged: bool = False
    border: Callable[[Special], str | None] = lambda sp: None
    compact: Callable[[Special], Special | None] = lambda sp: None
    narrow: Callable[[Special], Special | None] = lambda sp: None
    mve: bool = False
    faster_in_place: Callable[[Special], bool] = lambda sp: False


@dataclass(frozen=True)
class Special:
    """A kernel generated for one signature."""
    row: Family = field(repr=False)      # its family
    isa: str                             # mve, dsp or portable
    consts: tuple[tuple[str, int], ...]  # the template's compile-time constants
    scratch: int = 0                     # bytes of scratch one call needs (im2col of two pixels)
    px_block: int = 1                    # output pixels written together (for the overlap analysis)
    staged: bool = False                 # each block's outputs are stored after its last input read
    weights: str = "original"            # how the weights are laid out for it (see the family's derived())
    narrowed: str = ""                   # the layout of its int8 variant, where it widens them to int16 (narrow)
    grouped: bool = False                # requantization records by groups of four channels (Helium kernels)
    c: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def family(self) -> str:
        """The family's name, that of its template (codegen/templates/kernels/<family>.c.j2)."""
        return self.row.family

    @property
    def name(self) -> str:
        return self.row.name(self)

    def const(self, name: str) -> int:
        return dict(self.consts)[name]

    @property
    def stack(self) -> int:
        """Bytes of stack one call uses for its buffers (not the arena)."""
        return self.row.stack(self)

    @property
    def border(self) -> str | None:
        return self.row.border(self)

    @property
    def unread(self) -> tuple[str, ...]:
        return self.row.unread


def requant_pre_kind(multiplier: int, shift: int) -> bool:
    """Whether tml_requant_pre (and Helium's tml_vrequant_pre) take this multiplier and shift: a multiplier in
    (2^30, 2^31) and a shift in [-22, -2] (the output zero point then folds into the records without overflow)."""
    return multiplier > (1 << 30) and -22 <= shift <= -2


# A steady channel: one whose int8 output is the same value for every int8 input (its weights, times any input,
# cannot move the requantized sum: the dead channels of model zoos, whose tiny multipliers come with shifts down
# to -31 or a multiplier of 0 after batch-norm folding). One such channel would keep the whole layer on the
# generic requantization (RQ 0); its record instead takes the stage STEADY (a multiplier in (2^30, 2^31), shift
# -22), a bias of 0 and a rounding constant that lands on its value: with e1 = 21 and hp = v 2^21 + 2^20 the
# stages of tml_requant_pre, tml_requant_pre_relu(1) and tml_vrequant_pre give v for every accumulator of
# magnitude below STEADY_BOUND (the weights' products alone, the bias being 0).
STEADY = ((1 << 30) + 1, -22)
STEADY_BOUND = (1 << 22) - 64


def channel_rows(kern: Kernel, g: Graph) -> tuple[np.ndarray, np.ndarray]:
    """(weights [output channel, taps], bias with the input offset folded in) of a convolution, depthwise
    convolution or fully connected call: out_c = bias + sum of w * x over the raw int8 inputs x."""
    p = kern.params
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    w = weights(g, kern.args[1])
    dw = kern.func.startswith("tml_depthwise_conv_")
    rows = np.ascontiguousarray(w.reshape(-1, w.shape[-1]).T) if dw else w.reshape(w.shape[0], -1)
    bt = kern.args[2]
    bias = np.zeros(len(rows), np.int64) if bt == NO_TENSOR else np.asarray(g.tensor(bt).data).astype(np.int64)
    return rows, bias + p.input_offset * rows.sum(axis=1)


_PER_LAYER: dict[tuple, object] = {}


def _per_layer(what: str, kern: Kernel, g: Graph, compute: Callable[[], object]) -> object:
    """`compute()`, kept per call weights, bias and output stage (what steady channels and accumulator bounds depend
    on): the memory plan asks about each layer's calls thousands of times, patch by patch, with other spatial sizes."""
    p = kern.params
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    bt = kern.args[2]
    key = (what, kern.func, g.tensor(kern.args[1]), None if bt == NO_TENSOR else g.tensor(bt), p.input_offset,
           p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
    if key not in _PER_LAYER:
        if len(_PER_LAYER) >= 8192:
            _PER_LAYER.clear()
        _PER_LAYER[key] = compute()
    return _PER_LAYER[key]


def steady_outputs(kern: Kernel, g: Graph) -> dict[int, int]:
    """{channel: its output} for the steady channels of a call whose requantization tml_requant_pre could not take
    (see STEADY): the int32 accumulator over every int8 input lies between two bounds without wrapping, TFLM's
    MultiplyByQuantizedMultiplier is monotone in it, so equal outputs at both bounds (after the zero point and the
    activation range) are the output for every input. Empty for layers without such channels. Read-only (kept per
    layer, `_per_layer`)."""
    p = kern.params
    if not isinstance(p, (ConvParams, FullyConnectedParams)) or not kern.func.endswith(("_s8", "_s4")) or \
            (isinstance(p, FullyConnectedParams) and p.filter_offset != 0):
        return {}
    return _per_layer("steady", kern, g, lambda: _steady_outputs(kern, g))  # type: ignore[return-value]


def _steady_outputs(kern: Kernel, g: Graph) -> dict[int, int]:
    p = kern.params
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    mult = np.resize(np.asarray(p.multiplier, np.int64), p.out_c)
    shift = np.resize(np.asarray(p.shift, np.int64), p.out_c)
    odd = np.flatnonzero((mult <= (1 << 30)) | (shift < -22) | (shift > -2))  # not requant_pre_kind
    if not len(odd):
        return {}
    rows, folded = channel_rows(kern, g)
    rows, folded, mult, shift = rows[odd], folded[odd], mult[odd], shift[odd]
    pos, neg = rows.clip(min=0).sum(axis=1), rows.clip(max=0).sum(axis=1)
    reach = 127 * pos - 128 * neg       # the largest product sum over int8 inputs; -128 pos + 127 neg the least
    least = -128 * pos + 127 * neg
    lo, hi = folded + least, folded + reach
    fits = (np.maximum(-least, reach) <= STEADY_BOUND) & \
        (np.left_shift(np.maximum(np.abs(lo), np.abs(hi)), np.maximum(shift, 0)) < (1 << 31))
    v = np.clip(fixedpoint.mbqm(np.stack([lo, hi]), mult, shift) + p.output_offset, p.act_min, p.act_max)
    return {int(c): int(v[0, i]) for i, c in enumerate(odd) if fits[i] and v[0, i] == v[1, i]}


def steady_kernel(kern: Kernel, g: Graph) -> Kernel:
    """`kern` with its steady channels' multiplier and shift given as STEADY (what the selector decides the output
    stage from; their records follow, `requant_records`): `kern` itself where there are none."""
    fixed = steady_outputs(kern, g)
    if not fixed:
        return kern
    p = kern.params
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    mult = list(np.resize(np.asarray(p.multiplier, np.int64), p.out_c))
    shift = list(np.resize(np.asarray(p.shift, np.int64), p.out_c))
    for c in fixed:
        mult[c], shift[c] = STEADY
    return replace(kern, params=replace(p, multiplier=tuple(int(m) for m in mult),
                                        shift=tuple(int(s) for s in shift)))


def output_stage(p: ConvParams | FullyConnectedParams, isa: str = "dsp") -> tuple[tuple[str, int], ...]:
    """The output stage as constants: RQ = 1 (tml_requant_pre) when every channel's multiplier is in (2^30, 2^31)
    and its shift in [-22, -2] (the output zero point then folds into the records without overflow), RQ = 2
    (tml_requant_pre_relu) when besides the activation minimum is at or above the output zero point, RQ = 3
    (tml_requant_pre_relu1, not for Helium's vector stage) for such a ReLU whose shifts reach -1, else 0
    (tml_requant); the output zero point and the activation range. The DSP kernels compute RQ 1 to 3 in one SMMLAR
    (MM: tml_requant_mm and tml_requant_mm_relu, whose records `smmlar_records` gives)."""
    pairs = list(zip(p.multiplier, p.shift))
    fast = int(all(requant_pre_kind(m, s) for m, s in pairs))
    relu = p.act_min >= p.output_offset
    if fast and relu:
        fast = 2
    elif not fast and relu and isa != "mve" and all(requant_pre_kind(m, s) or (m > (1 << 30) and s == -1)
                                                      for m, s in pairs):
        fast = 3
    mm = (("MM", 1),) if fast and isa == "dsp" else ()
    return (("RQ", fast), ("OUT_OFF", p.output_offset), ("ACT_MIN", p.act_min), ("ACT_MAX", p.act_max)) + mm


def long_accumulators(kern: Kernel, g: Graph) -> bool:
    """Whether an accumulator of this call may reach 2^30 in magnitude (a channel's |bias with the input offset
    folded in| + 128 sum |w|, over every int8 input; a steady channel's record has no bias), beyond what
    tml_requant_mm takes: the call keeps the SMLAL stage (`long_stage`)."""
    def reach() -> bool:
        rows, folded = channel_rows(kern, g)
        folded = np.abs(folded)
        folded[list(steady_outputs(kern, g))] = 0
        return bool((folded + 128 * np.abs(rows).sum(axis=1)).max(initial=0) >= (1 << 30))
    return bool(_per_layer("long", kern, g, reach))


def long_stage(sp: Special) -> Special:
    """DSP kernel `sp` with the SMLAL output stage (tml_requant_pre and its ReLU forms) in place of SMMLAR's."""
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] != "MM"))


def stage_name(sp: Special) -> str:
    """The output stage's part of a name: the zero point (`_or`: read at run time; none where the code does not
    read it), the activation range (`_ar`: read at run time), `_rq` for tml_requant, `_relu` for
    tml_requant_pre_relu where no zero point in the name implies it, `_l` for a DSP kernel's SMLAL stage
    (long_stage)."""
    c = dict(sp.consts)
    off = "_or" if c.get("RT_OFF") else f"_o{c['OUT_OFF']}" if "OUT_OFF" in c else ""
    act = "_ar" if c.get("RT_ACT") else f"_a{c['ACT_MIN']}_{c['ACT_MAX']}"
    rq = "_rq" if not c["RQ"] else "_relu1" if c["RQ"] == 3 else "_relu" if c["RQ"] == 2 and not off else ""
    return (off + act).replace("-", "m") + rq + ("_l" if sp.isa == "dsp" and c["RQ"] and not c.get("MM") else "")


def window(sp: Special) -> str:
    """A convolution window's part of a name: kernel size, strides, and dilations other than 1."""
    c = dict(sp.consts)
    return f"{c['KH']}x{c['KW']}_s{c['SH']}x{c['SW']}" + (f"_d{c['DH']}x{c['DW']}" if c["DH"] * c["DW"] > 1 else "")


def window_consts(p: ConvParams, channels: int) -> tuple[tuple[str, int], ...]:
    """The constants of a depthwise window over `channels` channels, int8 weights."""
    return (("C", channels), ("KH", p.k_h), ("KW", p.k_w), ("SH", p.stride_h), ("SW", p.stride_w),
            ("DH", p.dil_h), ("DW", p.dil_w), ("BITS", 8))


def compact(sp: Special) -> Special | None:
    """`sp` with shorter unrolled loops (CS: the code-size variant the selector takes for boards with little flash to
    spare) and int8 weights (narrow), or None if it is that already."""
    if dict(sp.consts).get("CS") or sp.isa == "mve":  # Helium loops are not unrolled: nothing to shorten
        return None
    sp = narrow(sp) or sp
    return replace(sp, consts=sp.consts + (("CS", 1),))


def narrow(sp: Special) -> Special | None:
    """`sp` reading int8 weight rows where it reads rows widened to int16 at generation time (W16: dsp kernels
    without SXTB16 of weights in their inner loops, for twice the weights' flash), or None if it does not widen
    them."""
    if not dict(sp.consts).get("W16"):
        return None
    return replace(sp, consts=tuple(kv for kv in sp.consts if kv[0] != "W16"), weights=sp.narrowed, narrowed="")


def compact_name(sp: Special) -> str:
    """The compact variant's part of a name."""
    return "_cs" if dict(sp.consts).get("CS") else ""


def bits(func: str) -> int:
    """The weight width of runtime kernel `func`."""
    return 4 if func.endswith("_s4") else 8


def weights(g: Graph, t: int) -> np.ndarray:
    """The weights of tensor `t` as int8 values (int4 unpacked)."""
    w = g.tensor(t)
    assert w.data is not None
    return np.asarray(w.data).astype(np.int64)


def _pack_rows(w: np.ndarray, kp: int, nbits: int) -> Const:
    """Rows of `w` ([rows, k]) padded with zeros to kp; int4: packed so that one 32-bit word holds 8 values whose
    low nibbles are elements 0-3 and high nibbles elements 4-7 (unpacked with two masks and SXTB16)."""
    rows, k = w.shape
    pad = np.zeros((rows, kp), np.int64)
    pad[:, :k] = w
    if nbits == 8:
        return Const(f"rows{kp}", "int8_t", pad.astype(np.int8).tobytes())
    g8 = pad.reshape(rows, kp // 8, 2, 4) & 0xF  # [row][group][low/high][byte]
    packed = (g8[:, :, 0, :] | (g8[:, :, 1, :] << 4)).astype(np.uint8)
    return Const(f"nibbles{kp}", "int8_t", packed.tobytes())


def _pack_rows16(w: np.ndarray, kp: int, ka: int) -> Const:
    """Rows of `w` ([rows, k], int8 values) padded with zeros to kp, as int16, each whole step of four among the
    first ka elements in the lane order SXTB16 gives an input word, (k0, k2, k1, k3): one 32-bit load is the step's
    even lanes, the next its odd ones (the dsp kernels' wstep); the elements after ka in order (scalar tails)."""
    rows, k = w.shape
    pad = np.zeros((rows, kp), np.int64)
    pad[:, :k] = w
    steps = pad[:, :ka].reshape(rows, ka // 4, 4)[:, :, [0, 2, 1, 3]].reshape(rows, ka)
    return Const(f"rows16_{kp}", "int16_t", np.concatenate([steps, pad[:, ka:]], axis=1).astype(np.int16).tobytes())


def _pack_mve(rows: np.ndarray, nbits: int = 8) -> Const:
    """Rows of `w` ([rows, k]) for the Helium kernels (mve_dot, mve_dot4): groups of four rows (the last one the 1-3
    left), each row padded with zeros to whole steps of 16 bytes, a group's rows interleaved step by step
    ([group][step][row][16 bytes]), so that one pointer walks a group's weights in the order the kernel reads them.
    int8: a step is 16 values; int4: 32, byte j holding value j in its low nibble and value j + 16 in its high one
    (two shifts unpack sixteen lanes)."""
    n, k = rows.shape
    per = 16 if nbits == 8 else 32
    steps = -(-k // per)
    pad = np.zeros((n, steps * per), np.int64)
    pad[:, :k] = rows
    if nbits == 4:
        s = pad.reshape(n, steps, 2, 16) & 0xF
        pad = (s[:, :, 0, :] | (s[:, :, 1, :] << 4)).reshape(n, steps * 16)
    groups = [pad[g:g + 4].reshape(-1, steps, 16).transpose(1, 0, 2).reshape(-1) for g in range(0, n, 4)]
    return Const(f"mve{steps * per}" + ("" if nbits == 8 else "x4"), "int8_t",
                 np.concatenate(groups).astype(np.int8 if nbits == 8 else np.uint8).tobytes())


def requant_records(p: ConvParams | FullyConnectedParams, folded: np.ndarray, fast: int,
                    steady: dict[int, int] | None = None) -> np.ndarray:
    """Four int32 per output channel: the bias with the input offset folded in, the multiplier, and e - 1 and
    2^(e - 2) + z * 2^(e - 1) with e = -shift and z the output zero point (`fast` 1, 2: tml_requant_pre and
    tml_requant_pre_relu, which add z themselves), e - 1 and 2^(e - 1) + z * 2^e (`fast` 3:
    tml_requant_pre_relu1), or the shift and 0 (tml_requant). With `fast`, a `steady` channel's record gives its
    value v for every input: 0, STEADY's multiplier, 21 and v 2^21 + 2^20 (doubled for tml_requant_pre_relu1)."""
    n = len(folded)
    mult = np.resize(np.asarray(p.multiplier, np.int64), n)
    shift = np.resize(np.asarray(p.shift, np.int64), n)
    rec = np.zeros((n, 4), np.int64)
    rec[:, 0], rec[:, 1] = folded, mult
    if fast == 3:  # tml_requant_pre_relu1: hp2 = 2^(e - 1) + z * 2^e, e = -shift >= 1
        rec[:, 2] = -shift - 1
        rec[:, 3] = np.left_shift(1, -shift - 1) + p.output_offset * np.left_shift(1, -shift)
    elif fast:
        rec[:, 2] = -shift - 1
        rec[:, 3] = np.left_shift(1, -shift - 2) + p.output_offset * np.left_shift(1, -shift - 1)
    else:
        rec[:, 2] = shift
    for c, v in (steady or {}).items() if fast else ():
        e1 = -STEADY[1] - 1
        rec[c] = (0, STEADY[0], e1, ((v << e1) + (1 << (e1 - 1))) << (fast == 3))
    return rec.astype(np.int32)


def smmlar_records(recs: np.ndarray, fast: int) -> np.ndarray:
    """`requant_records` of kind `fast` (1 to 3) as tml_requant_mm and tml_requant_mm_relu read them: the bias, the
    multiplier m as m2 = 2m - 2^32 (an int32), e = -shift, and hp2 = 2^(e - 1) + z 2^e (twice the hp of kinds 1 and
    2; kind 3's own), steady channels' records included (the same value in the other form)."""
    out = recs.astype(np.int64)
    out[:, 1] = 2 * out[:, 1] - (1 << 32)
    out[:, 2] += 1
    if fast != 3:
        out[:, 3] *= 2
    return out.astype(np.int32)


def staged_derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """(weights, requantization records) arguments of a kernel with an output stage: the original weight tensor
    or a reordered copy, and per output channel the bias with the input offset folded in (input_offset * sum of
    the channel's weights) and its requantization constants (requant_records)."""
    p = kern.params
    wt = kern.args[1]
    assert isinstance(p, (ConvParams, FullyConnectedParams))
    rows, folded = channel_rows(kern, g)           # [out_c, K]
    if kern.func.startswith("tml_depthwise_conv_") and sp.family != "conv":
        rows = np.ascontiguousarray(rows.T)        # [taps, C] (a convolution of one input channel: [out_c, taps])
    recs = requant_records(p, folded, sp.const("RQ"), steady_outputs(kern, g))
    if dict(sp.consts).get("MM"):
        recs = smmlar_records(recs, sp.const("RQ"))
    if sp.grouped:  # Helium kernels: the records by groups of four channels, [group][field][channel]
        g = -(-len(recs) // 4)
        recs = np.concatenate([recs, np.zeros((4 * g - len(recs), 4), np.int32)]).reshape(g, 4, 4).transpose(0, 2, 1)
    rec = np.ascontiguousarray(recs).tobytes()
    stage = dict(sp.consts)
    if stage.get("RT_OFF") or stage.get("RT_ACT"):  # the output stage after them, read at run time
        rec += np.array([p.output_offset, p.act_min, p.act_max, 0], np.int32).tobytes()
    b = Const("rq", "int32_t", rec)
    if sp.weights == "original":
        return wt, b
    if sp.weights == "conv_rows":
        return _pack_rows(rows, sp.const("KP"), sp.const("BITS")), b
    if sp.weights == "conv16":
        return _pack_rows16(rows, sp.const("KP"), sp.const("KA")), b
    if sp.weights == "mve_rows":
        return _pack_mve(rows, sp.const("BITS")), b
    if sp.weights == "dw4":  # int8, [group of four channels][tap][channel], the last group padded with zeros
        taps, c = rows.shape
        g = -(-c // 4)
        pad = np.zeros((taps, 4 * g), np.int64)
        pad[:, :c] = rows
        return Const("dw4", "int8_t", pad.reshape(taps, g, 4).transpose(1, 0, 2).astype(np.int8).tobytes()), b
    assert sp.weights == "dw16"
    # int16, four channels at a time: group g's taps are contiguous (one LDRD per tap at a small positive offset),
    # each tap's four weights in the lane order SXTB16 gives the input, (c0, c2) then (c1, c3); the channels past
    # the last whole group follow, tap by tap
    taps, c = rows.shape
    c4 = c - c % 4
    groups = rows[:, :c4].reshape(taps, c4 // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
    data = np.concatenate([groups.reshape(-1), rows[:, c4:].reshape(-1)])
    return Const("dw16", "int16_t", data.astype(np.int16).tobytes()), b
