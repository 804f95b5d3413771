"""Patch-based inference (MCUNetV2) for the first stage of a CNN.

The stage is a run of consecutive ops `start..split` (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D and
same-shape ADD) that reads one tensor from outside (the stage input) and hands one tensor on (the split output);
or such a run that goes on to a reduction of its last tensor (FULLY_CONNECTED over the flattened tensor, a
global AVERAGE_POOL_2D, MEAN over H and W: the classifier), which then sums that tensor band by band into int32
accumulators and applies its output stage once at the end, so the last feature map never exists whole.

Two schedules:
- recomputed halos (`_patches`, MCUNetV2): the split output is cut into an R x C grid; for each patch the
  receptive field is walked backwards through the stage (every tensor gets the bounding box of what its consumers
  need, halo included) and the stage's ops run on those regions, in patch buffers of their own. Overlapping
  receptive fields are computed again by each patch; the report counts the MACs that costs.
- cached halos (`_pipeline`, R x 1 bands): the stage runs as a row pipeline through window buffers of whole rows,
  every row computed once (no extra MACs).

Bit-exactness: a region kernel is the layer's own kernel with the geometry of the region: the region buffer is
its input (in_h/in_w = the region's size) and the "padding" becomes the offset between the output region's
receptive field and the region's first row/column, which can be negative. Every input position the full layer
would read inside the image lies inside the region, and every position the full layer treats as padding lies
outside it, so each output value is computed from exactly the same numbers in the same order. The reductions add
the same int32 terms in another grouping, which gives the same sum.

The split output is written patch by patch (directly, when a patch spans whole rows; otherwise through a patch
buffer and a strided copy). It may overlap the stage input: the planner gets the exact gap over the patch order,
computed as in overlap.py with one event per patch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..cost import macs
from ..ir import NO_TENSOR, Graph, OpKind
from ..kernels.registry import KERNELS
from ..params import (
    AccumulateParams,
    BroadcastParams,
    ConvParams,
    CopyParams,
    CopyRectParams,
    FullyConnectedParams,
    Kernel,
    MeanParams,
    PoolParams,
)
from .overlap import gap_between
from .planner import Buffer, PatchId, Ref, Source

NO_READ = 1 << 62  # first_read of a patch that reads nothing of the stage input (cached halos: no new rows)

STAGE_OPS = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.AVERAGE_POOL_2D, OpKind.MAX_POOL_2D, OpKind.ADD)


@dataclass(frozen=True)
class Region:
    """Rows [y0, y1) and columns [x0, x1) of a 4-D NHWC tensor."""
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    def union(self, o: Region | None) -> Region:
        if o is None:
            return self
        return Region(min(self.y0, o.y0), max(self.y1, o.y1), min(self.x0, o.x0), max(self.x1, o.x1))


@dataclass(frozen=True)
class Stage:
    start: int              # first op of the stage
    split: int              # last op of the stage
    input: int              # the tensor the stage reads from outside
    output: int             # the split output, handed on to layer-by-layer execution
    reduced: int | None = None  # the stage ends at a reduction (op `split`) of this [1, H, W, C] tensor

    @property
    def banded(self) -> int:
        """The tensor whose rows (and columns) are cut into patches."""
        return self.output if self.reduced is None else self.reduced


@dataclass(frozen=True)
class PatchPlan:
    stage: Stage
    grid: tuple[int, int]                       # patch rows x patch columns
    regions: tuple[dict[int, Region], ...]      # per patch: tensor -> region computed (split output: the patch);
                                                # cached halos, per pipeline step: tensor -> rows its window holds
    calls: tuple[tuple[tuple[int, Kernel], ...], ...]  # per patch (step): (op index, kernel call) in order
    buffers: tuple[Buffer, ...]                 # patch buffers (ids PatchId(tensor))
    extra_macs: int                             # MACs spent on recomputed halos
    input_gap: int | None                       # safe gap of the split output below the stage input, or None
    streamed: int | None = None                 # model input index read region by region from the application
    cached: bool = False                        # halos kept in window buffers (R x 1 bands), not recomputed

    @property
    def patches(self) -> int:
        return len(self.regions)


def _spatial(g: Graph, t: int) -> tuple[int, int, int] | None:
    s = g.tensor(t).shape
    return (s[1], s[2], s[3]) if len(s) == 4 and s[0] == 1 else None


def _folded_pad(g: Graph, k: int, ks: list[Kernel]) -> bool:
    """A PAD folded into the convolutions that read it (techniques.fold_pads): no code, its output an alias."""
    return g.ops[k].kind is OpKind.PAD and not ks


def _reads(g: Graph, kernels: list[list[Kernel]]) -> list[list[int]]:
    """Per op, its non-constant inputs as stored: a folded PAD's output is its input (the convolutions that read
    it carry the padding in their parameters)."""
    folded = {op.outputs[0]: op.inputs[0] for j, op in enumerate(g.ops) if _folded_pad(g, j, kernels[j])}

    def stored(i: int) -> int:
        while i in folded:
            i = folded[i]
        return i
    return [[stored(i) for i in g.activation_inputs(op)] for op in g.ops]


def _eligible(g: Graph, k: int, ks: list[Kernel]) -> bool:
    op = g.ops[k]
    if _folded_pad(g, k, ks):
        return _spatial(g, op.outputs[0]) is not None
    if op.kind not in STAGE_OPS or len(ks) != 1 or len(op.outputs) != 1 or _spatial(g, op.outputs[0]) is None:
        return False
    p = ks[0].params
    if isinstance(p, (ConvParams, PoolParams)):
        return p.batches == 1
    if isinstance(p, BroadcastParams):
        ins = [i for i in op.inputs if i != NO_TENSOR]
        h, w, c = _spatial(g, op.outputs[0])  # type: ignore[misc]
        dense = (w * c, c, 1)  # the batch stride does not matter for batch 1
        same = all(not g.tensor(i).is_const and g.tensor(i).shape == g.tensor(op.outputs[0]).shape for i in ins)
        return (len(ins) == 2 and same and (p.d0, p.d1, p.d2, p.d3) == (1, h, w, c)
                and tuple(p.a_stride[1:]) == dense == tuple(p.b_stride[1:]))
    return False


def _reduces(g: Graph, ks: list[Kernel], t: int) -> bool:
    """True if `ks` is one kernel that reduces all of [1, H, W, C] tensor `t` (read as it is or through a RESHAPE)
    to a few values with an int32 sum that can be taken band by band: FULLY_CONNECTED over the flattened tensor,
    global AVERAGE_POOL_2D, MEAN over H and W."""
    if len(ks) != 1 or KERNELS[ks[0].func].band is None:
        return False
    h, w, c = _spatial(g, t)  # type: ignore[misc]
    p = ks[0].params
    if isinstance(p, FullyConnectedParams):
        return p.batches == 1 and p.accum_depth == h * w * c
    if isinstance(p, PoolParams):
        geometry = (p.in_h, p.in_w, p.channels, p.out_h, p.out_w, p.pad_h, p.pad_w)
        return p.batches == 1 and geometry == (h, w, c, 1, 1, 0, 0) and p.filter_h >= h and p.filter_w >= w
    assert isinstance(p, MeanParams)
    return tuple(p.in_dims) == (1, h, w, c) and tuple(p.reduce) == (0, 1, 1, 0)


def _reduction(g: Graph, kernels: list[list[Kernel]], s: int, consumers: dict[int, list[int]]) -> int | None:
    """The op after `s` (past a RESHAPE of its output) that reduces op s's output as a whole, or None."""
    t = g.ops[s].outputs[0]
    k, x = s + 1, t
    if k < len(g.ops) and g.ops[k].kind is OpKind.RESHAPE and not kernels[k] and g.ops[k].inputs[0] == t \
            and consumers.get(t) == [k] and t not in g.outputs:
        k, x = k + 1, g.ops[k].outputs[0]
    if k >= len(g.ops) or consumers.get(x) != [k] or x in g.outputs or consumers.get(t) != [k if x == t else k - 1]:
        return None
    op = g.ops[k]
    if g.activation_inputs(op) != [x] or len(op.outputs) != 1:
        return None
    return k if _reduces(g, kernels[k], t) else None


def stages(g: Graph, kernels: list[list[Kernel]]) -> list[Stage]:
    """Every valid first stage: ops start..split, all eligible, one tensor in from outside, one tensor out; and
    those that go on to a reduction of their last tensor (a classifier: FULLY_CONNECTED, global average pool,
    MEAN), which then runs band by band into int32 accumulators."""
    start = next((k for k, ks in enumerate(kernels) if _eligible(g, k, ks)), None)
    if start is None or g.wide:  # patching, like in-place and overlap, is planned for int8 activations only
        return []
    consumers = g.consumers()
    reads = _reads(g, kernels)
    outs: list[Stage] = []
    produced: set[int] = set()
    for s in range(start, len(g.ops)):
        if not _eligible(g, s, kernels[s]):
            break
        produced.add(g.ops[s].outputs[0])
        ext_t = {i for k in range(start, s + 1) for i in reads[k] if i not in produced}
        if len(ext_t) != 1 or _spatial(g, next(iter(ext_t))) is None or _folded_pad(g, s, kernels[s]):
            continue  # (a stage does not end at a folded PAD: its output is never materialized)
        out = g.ops[s].outputs[0]
        inner_ok = all(t not in g.outputs and all(start <= c <= s for c in consumers.get(t, []))
                       for t in produced if t != out)
        if inner_ok and s > start:
            outs.append(Stage(start, s, next(iter(ext_t)), out))
        r = _reduction(g, kernels, s, consumers) if inner_ok and _spatial(g, out)[0] > 1 else None  # type: ignore
        if r is not None:
            outs.append(Stage(start, r, next(iter(ext_t)), g.ops[r].outputs[0], out))
    return outs


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` near-equal ranges covering [0, n)."""
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def _geometry(p: object) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """(stride, padding, kernel size, dilation) of the rows and of the columns a kernel reads, or None for an
    element-wise one (it reads the output's own region)."""
    if isinstance(p, BroadcastParams):
        return None
    if isinstance(p, ConvParams):
        return (p.stride_h, p.pad_h, p.k_h, p.dil_h), (p.stride_w, p.pad_w, p.k_w, p.dil_w)
    assert isinstance(p, PoolParams)
    return (p.stride_h, p.pad_h, p.filter_h, 1), (p.stride_w, p.pad_w, p.filter_w, 1)


def _span(geo: tuple[int, int, int, int], a: int, b: int, n: int) -> tuple[int, int]:
    """The input rows (or columns) [lo, hi) inside [0, n) that outputs [a, b) read, at least one."""
    s, pad, k, d = geo
    lo = max(0, a * s - pad)
    return lo, max(min(n, (b - 1) * s - pad + (k - 1) * d + 1), lo + 1)


def _needed(p: object, out: Region, h: int, w: int) -> Region:
    """Input rows/columns the kernel reads (inside the image) to compute output region `out`."""
    geo = _geometry(p)
    if geo is None:
        return out
    return Region(*_span(geo[0], out.y0, out.y1, h), *_span(geo[1], out.x0, out.x1, w))


def _region_kernel(g: Graph, kern: Kernel, rin: list[Region], rout: Region, in_refs: list[Ref], out_ref: Ref
                   ) -> Kernel:
    p = kern.params
    if isinstance(p, (ConvParams, PoolParams)):  # same geometry fields; args (input, [weights, bias,] output)
        q = replace(p, in_h=rin[0].h, in_w=rin[0].w, out_h=rout.h, out_w=rout.w,
                    pad_h=p.pad_h - rout.y0 * p.stride_h + rin[0].y0, pad_w=p.pad_w - rout.x0 * p.stride_w + rin[0].x0)
        return Kernel(kern.func, q, (in_refs[0], *kern.args[1:-1], out_ref))
    assert isinstance(p, BroadcastParams)
    c = p.d3
    strides = [(0, r.w * c, c, 1) for r in rin]
    refs = [Ref(ref.buffer, ref.offset + ((rout.y0 - r.y0) * r.w + (rout.x0 - r.x0)) * c)
            for ref, r in zip(in_refs, rin)]
    q3 = replace(p, d0=1, d1=rout.h, d2=rout.w, d3=c, a_stride=strides[0], b_stride=strides[1])
    return Kernel(kern.func, q3, (refs[0], refs[1], out_ref))


def streamable(g: Graph, stage: Stage) -> int | None:
    """The model input index of the stage input when it can be streamed (a graph input read by the stage only)."""
    if stage.input not in g.inputs or stage.input in g.outputs:
        return None
    users = g.consumers().get(stage.input, [])
    return g.inputs.index(stage.input) if all(stage.start <= k <= stage.split for k in users) else None


def _bands(n: int, parts: int, cache: bool) -> list[tuple[int, int]] | None:
    """Row (or column) ranges of the split output: near-equal parts, or with cached halos bands of one height
    (so that every patch but the last runs the same calls; None if `parts` bands of one height cannot cover n)."""
    if not cache:
        return _split(n, parts)
    b = -(-n // parts)
    if -(-n // b) != parts:
        return None
    return [(i * b, min(n, (i + 1) * b)) for i in range(parts)]


def _advance(t: int, r: Region, c: int, held: dict[int, Region]) -> tuple[list[Kernel], Region | None]:
    """Cached halos: the window buffer of tensor `t` holds region held[t] from the previous patch and must hold
    `r` now. Returns the call that moves the rows both share to the top of the buffer (none if there is nothing
    to move) and the rows still to compute (None if none); records `r` as held."""
    q = held.get(t)
    held[t] = r
    if q is None or r.y0 >= q.y1:
        return [], r
    assert r.y0 >= q.y0 and r.y1 >= q.y1 and (r.x0, r.x1) == (q.x0, q.x1), (t, q, r)  # regions only move down
    row = r.w * c
    keep, shift = q.y1 - r.y0, r.y0 - q.y0
    move = [Kernel("tml_copy", CopyParams(1, keep * row, keep * row, 0),
                   (Ref(PatchId(t), shift * row), Ref(PatchId(t), 0)))] if shift and keep else []
    return move, (Region(q.y1, r.y1, r.x0, r.x1) if r.y1 > q.y1 else None)


def _spatial_ops(g: Graph, stage: Stage) -> range:
    """The ops of `stage` that run patch by patch (a reduction at stage.split runs band by band after them)."""
    if stage.reduced is None:
        return range(stage.start, stage.split + 1)
    return range(stage.start, next(k for k in range(stage.split, stage.start - 1, -1)
                                   if g.ops[k].outputs[0] == stage.reduced) + 1)


def plan_patches(g: Graph, kernels: list[list[Kernel]], stage: Stage, grid: tuple[int, int],
                 stream: bool = False, cache: bool = False, below: int | None = None) -> PatchPlan | None:
    """Regions, region kernels and patch buffers of `stage` cut into `grid` patches (None if the grid does not fit
    the split output, or `stream` is asked and the stage input is not a streamable model input). `stream`: the
    stage input stays in the application's memory and each patch gathers its input region into a patch buffer.
    `cache` (grids of whole-row bands, R x 1): halos are kept instead of recomputed (see _pipeline); with
    `below`, None as soon as the patch buffers and the split output reach `below` bytes."""
    hs, ws, cs = _spatial(g, stage.banded)  # type: ignore[misc]
    rows, cols = grid
    reduce = stage.reduced is not None
    if rows < 1 or cols < 1 or rows > hs or cols > ws or rows * cols < 2 or ((cache or reduce) and cols != 1):
        return None
    bands = _bands(hs, rows, cache)
    src = streamable(g, stage) if stream else None
    if bands is None or (stream and src is None):
        return None
    ops = _spatial_ops(g, stage)
    if cache:
        fixed = g.tensor(stage.output).nbytes + (4 * g.tensor(stage.output).size if reduce else 0)
        found = _pipeline(g, kernels, stage, ops, rows, src, None if below is None else below - fixed)
        if found is None:
            return None
        steps = found
    else:
        steps = _patches(g, kernels, stage, ops, bands, cols, src)
    all_regions, all_calls, sizes, last_written, first_read = steps
    extra = _extra_macs(g, ops, all_calls)
    buffers = _patch_buffers(g, kernels, stage, ops, sizes, src, cache)
    gap = gap_between(np.asarray(last_written), np.asarray(first_read)) if src is None and not reduce else None
    return PatchPlan(stage, grid, tuple(all_regions), tuple(all_calls), tuple(buffers), extra, gap, src, cache)


def _extra_macs(g: Graph, ops: range, all_calls: list[tuple[tuple[int, Kernel], ...]]) -> int:
    """MACs the region calls of the stage's ops execute beyond the layers' own (recomputed halos)."""
    extra = 0
    for calls in all_calls:
        for k, kern in calls:
            p = kern.params
            if k in ops and isinstance(p, (ConvParams, PoolParams, BroadcastParams)):
                h_full, w_full, _ = _spatial(g, g.ops[k].outputs[0])  # type: ignore[misc]
                extra += macs(g, g.ops[k]) // (h_full * w_full) * _out_pixels(p)
    return extra - sum(macs(g, g.ops[k]) for k in ops)


def _patch_buffers(g: Graph, kernels: list[list[Kernel]], stage: Stage, ops: range, sizes: dict[int, int],
                   src: int | None, cache: bool) -> list[Buffer]:
    """The patch buffers (`sizes`: bytes per tensor) with their lifetimes: a window buffer lives through the stage
    (cached halos), a patch buffer from its producer to its last reader; the streamed input's buffer; a
    reduction's int32 accumulators."""
    # the last stage op that reads each tensor, seen through folded PADs: a PAD folded into its convolutions runs
    # no code, the convolution after it reads the PAD's input (graph consumers would end the lifetime at the PAD)
    reads = _reads(g, kernels)
    last_read = {i: k for k in ops for i in reads[k]}
    buffers = []
    if src is not None:
        last = stage.split if cache else last_read[stage.input]
        buffers.append(Buffer(PatchId(stage.input), sizes[stage.input], stage.start, last, 1, ()))
    for k in ops:
        t = g.ops[k].outputs[0]
        if t not in sizes:
            continue  # the split output, written in place
        if cache:  # a window buffer carries rows from one patch to the next
            first, last = stage.start, stage.split
        else:
            first, last = k, (k if t == stage.output else stage.split if t == stage.reduced else last_read[t])
        buffers.append(Buffer(PatchId(t), sizes[t], first, last, 1, ()))
    if stage.reduced is not None:  # the int32 accumulators of the reduction
        buffers.append(Buffer(PatchId(stage.output), 4 * g.tensor(stage.output).size, stage.start, stage.split,
                              4, ()))
    return buffers


def _out_pixels(p: object) -> int:
    """Output pixels a region kernel computes."""
    if isinstance(p, BroadcastParams):
        return p.d1 * p.d2
    assert isinstance(p, (ConvParams, PoolParams))
    return p.out_h * p.out_w


# what a patch schedule gives plan_patches: per patch the regions (tensor -> region held or computed) and the
# (op, kernel) calls; bytes of each patch or window buffer; per patch the last split-output byte written and the
# first stage-input byte read from then on (for the safe overlap of the two)
Steps = tuple[list[dict[int, Region]], list[tuple[tuple[int, Kernel], ...]], dict[int, int], list[int], list[int]]


def _gather(src: int, t: int, r: Region, new: Region, wi: int, ci: int) -> Kernel:
    """Copy rows `new` of streamed model input `src` into the window buffer of tensor `t`, which holds `r`."""
    return Kernel("tml_copy_rect", CopyRectParams(new.h, r.w * ci, wi * ci, 0),
                  (Source(src, (new.y0 * wi + r.x0) * ci), Ref(PatchId(t), (new.y0 - r.y0) * r.w * ci)))


def _patches(g: Graph, kernels: list[list[Kernel]], stage: Stage, ops: range, bands: list[tuple[int, int]],
             cols: int, src: int | None) -> Steps:
    """Recomputed halos (MCUNetV2): every patch walks its receptive field back through the stage and computes
    the whole of it, halo included, into patch buffers of its own."""
    hs, ws, cs = _spatial(g, stage.banded)  # type: ignore[misc]
    hi, wi, ci = _spatial(g, stage.input)  # type: ignore[misc]
    full_in = Region(0, hi, 0, wi)
    direct = cols == 1  # a patch spans whole rows: its split-output rows are contiguous in the full tensor
    reads = _reads(g, kernels)
    all_regions: list[dict[int, Region]] = []
    all_calls: list[tuple[tuple[int, Kernel], ...]] = []
    last_written, first_read = [], []
    for band, (y0, y1) in enumerate(bands):
        for (x0, x1) in _split(ws, cols):
            reg = _receptive_field(g, kernels, stage, ops, reads, Region(y0, y1, x0, x1), src)
            calls: list[tuple[int, Kernel]] = []
            if src is not None:  # gather the input region from the application's memory
                r = reg[stage.input]
                calls.append((stage.start, _gather(src, stage.input, r, r, wi, ci)))
            min_in = None
            for k in ops:
                op = g.ops[k]
                out = op.outputs[0]
                if not kernels[k]:
                    continue  # a folded PAD
                rout = reg[out]
                out_ref = Ref(out, y0 * ws * cs) if out == stage.output and direct else Ref(PatchId(out), 0)
                rin, refs = [], []
                for i in reads[k]:
                    if i == stage.input and src is None:
                        need = _needed(kernels[k][0].params, rout, hi, wi)
                        rin.append(full_in)
                        refs.append(Ref(i, 0))
                        off = (need.y0 * wi + need.x0) * ci
                        min_in = off if min_in is None else min(min_in, off)
                    else:
                        rin.append(reg[i])
                        refs.append(Ref(PatchId(i), 0))
                calls.append((k, _region_kernel(g, kernels[k][0], rin, rout, refs, out_ref)))
                if out == stage.output and not direct:
                    calls.append((k, Kernel("tml_copy", CopyParams(rout.h, rout.w * cs, ws * cs,
                                                                   (y0 * ws + x0) * cs),
                                            (Ref(PatchId(out), 0), Ref(out, 0)))))
            if stage.reduced is not None:
                calls += [(stage.split, kern) for kern in _reduce_calls(g, kernels[stage.split][0], stage, y0, y1,
                                                                      band == len(bands) - 1, 0)]
            all_regions.append(reg)
            all_calls.append(tuple(calls))
            last_written.append(((y1 - 1) * ws + x1) * cs - 1)
            first_read.append(min_in if min_in is not None else NO_READ)
    sizes: dict[int, int] = {}
    for reg in all_regions:
        for t, r in reg.items():
            if t == stage.output and direct:
                continue
            c = _spatial(g, t)[2]  # type: ignore[index]
            sizes[t] = max(sizes.get(t, 0), r.h * r.w * c)
    return all_regions, all_calls, sizes, last_written, first_read


def _receptive_field(g: Graph, kernels: list[list[Kernel]], stage: Stage, ops: range, reads: list[list[int]],
                     patch: Region, src: int | None) -> dict[int, Region]:
    """The region of each stage tensor that computing `patch` of the banded tensor needs, walked back through the
    stage's ops (the stage input's only where it is streamed: otherwise it is read where it is)."""
    reg: dict[int, Region] = {stage.banded: patch}
    for k in reversed(ops):
        op = g.ops[k]
        if not kernels[k]:
            continue  # a folded PAD
        for i in reads[k]:
            if i == stage.input and src is None:
                continue
            h, w, _ = _spatial(g, i)  # type: ignore[misc]
            reg[i] = _needed(kernels[k][0].params, reg[op.outputs[0]], h, w).union(reg.get(i))
    return reg


def _pipeline(g: Graph, kernels: list[list[Kernel]], stage: Stage, stage_ops: range, rows: int,
              src: int | None, limit: int | None = None) -> Steps | None:
    """Cached halos: the stage runs as a row pipeline. Every stage tensor has a window buffer of whole rows that
    lives through the stage. In each step every op computes the next rows of its output that its inputs' windows
    allow, at most ceil(height / rows) of them, so the split output (or the reduced tensor) advances by one band
    per step once the pipeline is full; before an op writes, its output window drops the rows no reader will read
    again and moves the rest to the top (one memmove). Every row is computed once (no extra MACs), and a window
    holds only the rows between its slowest reader and its producer, not the whole receptive field of a band.
    None as soon as the window buffers reach `limit` bytes together (they only grow)."""
    pl = _RowPipeline(g, kernels, stage, stage_ops, rows, src)
    all_regions: list[dict[int, Region]] = []
    all_calls: list[tuple[tuple[int, Kernel], ...]] = []
    last_written, first_read = [], []
    while not pl.finished():
        found = pl.step(limit)
        if found is None:
            return None
        calls, min_in, wrote = found
        assert calls, "the row pipeline made no progress"
        all_regions.append(dict(pl.held))
        all_calls.append(tuple(calls))
        last_written.append(wrote)
        first_read.append(min_in)
    return all_regions, all_calls, pl.sizes, last_written, first_read


class _RowPipeline:
    """A cached-halo row pipeline as _pipeline runs it: the rows each op has computed, the rows each window buffer
    holds and the most it has held (its size)."""

    def __init__(self, g: Graph, kernels: list[list[Kernel]], stage: Stage, stage_ops: range, rows: int,
                 src: int | None) -> None:
        self.g, self.kernels, self.stage, self.src = g, kernels, stage, src
        self.hi, self.wi, self.ci = _spatial(g, stage.input)  # type: ignore[misc]
        self.ops = [k for k in stage_ops if kernels[k]]  # folded PADs run no code (their readers pad)
        self.reads = _reads(g, kernels)
        self.shape = {g.ops[k].outputs[0]: _spatial(g, g.ops[k].outputs[0]) for k in self.ops}
        self.readers: dict[int, list[int]] = {}  # tensor -> the stage ops that read it
        for k in self.ops:
            for i in self.reads[k]:
                self.readers.setdefault(i, []).append(k)
        self.cap = {k: -(-self.shape[g.ops[k].outputs[0]][0] // rows) for k in self.ops}  # type: ignore[index]
        self.done = {g.ops[k].outputs[0]: 0 for k in self.ops}  # rows computed so far
        self.held: dict[int, Region] = {}
        self.sizes: dict[int, int] = {}
        self.total = 0  # bytes of the window buffers so far
        self._memo: dict[tuple[int, int, Region], Region] = {}
        # the rows each stage op reads of each input, per output row: (input, row geometry or None, input height)
        self.rows_read = {k: [(i, None if (geo := _geometry(kernels[k][0].params)) is None else geo[0],
                               _spatial(g, i)[0]) for i in self.reads[k]] for k in self.ops}  # type: ignore[index]

    def finished(self) -> bool:
        return all(self.done[o] >= self.shape[o][0] for o in self.done)  # type: ignore[index]

    def needed(self, k: int, i: int, r: Region) -> Region:
        key = (k, i, r)
        if key not in self._memo:
            h, w, _ = _spatial(self.g, i)  # type: ignore[misc]
            self._memo[key] = _needed(self.kernels[k][0].params, r, h, w)
        return self._memo[key]

    def next_read(self, t: int) -> int:
        """The first row of `t` that a reader will still read (its rows computed so far if none will)."""
        ys = []
        for k in self.readers.get(t, []):
            o = self.g.ops[k].outputs[0]
            y = self.done[o]
            if y < self.shape[o][0]:  # type: ignore[index]
                geo = next(v for i, v, _ in self.rows_read[k] if i == t)
                ys.append(y if geo is None else max(0, y * geo[0] - geo[1]))
        return min(ys, default=self.done.get(t, 0))

    def reach(self, k: int) -> int:
        """How far op k's output can advance in this step: the first row (up to its cap) whose input rows are not
        all there yet. The rows an output row needs end no earlier for a later row, so the rows that can be
        computed are a prefix, found by bisection."""
        o = self.g.ops[k].outputs[0]
        h = self.shape[o][0]  # type: ignore[index]
        ins = [(geo, n, self.hi if i == self.stage.input else self.done[i]) for i, geo, n in self.rows_read[k]]

        def ready(y: int) -> bool:  # every input row output row y reads is there
            return all((y + 1 if geo is None else _span(geo, y, y + 1, n)[1]) <= have for geo, n, have in ins)
        lo, top = self.done[o], min(h, self.done[o] + self.cap[k])  # rows [done, lo) ready; answer in [lo, top]
        while lo < top:
            mid = (lo + top) // 2
            if ready(mid):
                lo = mid + 1
            else:
                top = mid
        return lo

    def window(self, t: int, r: Region, c: int) -> tuple[list[Kernel], Region | None]:
        """Window buffer `t` to hold `r` (see _advance), its size grown to fit."""
        size = r.h * r.w * c
        if size > self.sizes.get(t, 0):
            self.total += size - self.sizes.get(t, 0)
            self.sizes[t] = size
        return _advance(t, r, c, self.held)

    def inputs(self, k: int, new: Region, calls: list[tuple[int, Kernel]]) -> tuple[list[Region], list[Ref], int]:
        """The input regions and references of op k's call that computes rows `new`, and the first stage-input
        byte it reads (NO_READ if none where it is); a streamed input's window is advanced first (`calls`)."""
        rin, refs, min_in = [], [], NO_READ
        wi, ci = self.wi, self.ci
        for i in self.reads[k]:
            need = self.needed(k, i, new)
            if i == self.stage.input and self.src is None:  # whole rows of the stage input, where it is
                rin.append(Region(need.y0, need.y1, 0, wi))
                refs.append(Ref(i, need.y0 * wi * ci))
                min_in = min(min_in, need.y0 * wi * ci)
                continue
            if i == self.stage.input:  # streamed: gather the rows this call reads that the window lacks
                q = self.held.get(i)
                r = Region(min(self.next_read(i), need.y0), max(q.y1 if q else 0, need.y1), 0, wi)
                move, fresh = self.window(i, r, ci)
                calls += [(k, m) for m in move]
                if fresh is not None:
                    assert self.src is not None
                    calls.append((k, _gather(self.src, i, r, fresh, wi, ci)))
            rin.append(self.held[i])
            refs.append(Ref(PatchId(i), 0))
        return rin, refs, min_in

    def step(self, limit: int | None) -> tuple[list[tuple[int, Kernel]], int, int] | None:
        """One step: every op's calls for the rows it can compute now; (calls, first stage-input byte read, last
        split-output byte written), or None once the windows reach `limit` bytes."""
        g, stage = self.g, self.stage
        calls: list[tuple[int, Kernel]] = []
        min_in, wrote = NO_READ, -1
        for k in self.ops:
            o = g.ops[k].outputs[0]
            h, w, c = self.shape[o]  # type: ignore[misc]
            a, b = self.done[o], self.reach(k)
            if b == a:
                continue
            new = Region(a, b, 0, w)
            rin, refs, low = self.inputs(k, new, calls)
            min_in = min(min_in, low)
            if o == stage.output:  # the split output, written in place
                out_ref = Ref(o, a * w * c)
                wrote = b * w * c - 1
            else:
                r = Region(min(self.next_read(o), a), b, 0, w)
                move, fresh = self.window(o, r, c)
                assert fresh == new, (o, fresh, new)
                calls += [(k, m) for m in move]
                out_ref = Ref(PatchId(o), (a - r.y0) * w * c)
            if limit is not None and self.total >= limit:
                return None
            calls.append((k, _region_kernel(g, self.kernels[k][0], rin, new, refs, out_ref)))
            self.done[o] = b
            if o == stage.reduced:
                calls += [(stage.split, kern) for kern in _reduce_calls(g, self.kernels[stage.split][0], stage, a, b,
                                                                      b == h, out_ref.offset)]
        return calls, min_in, wrote


def _reduce_calls(g: Graph, kern: Kernel, stage: Stage, y0: int, y1: int, last: bool, at: int) -> list[Kernel]:
    """The reduction at the end of `stage` for rows [y0, y1) of the reduced tensor, `at` bytes into its window
    buffer: one accumulate call, and after the last band the layer's output stage."""
    _, w, c = _spatial(g, stage.banded)  # type: ignore[misc]
    acc = Ref(PatchId(stage.output), 0, "int32_t")
    band = Ref(PatchId(stage.banded), at)
    p = kern.params
    first = int(y0 == 0)
    band_func = KERNELS[kern.func].band
    assert band_func is not None
    accumulate, finish = band_func
    if isinstance(p, FullyConnectedParams):
        q = AccumulateParams(p.accum_depth, p.out_c, p.input_offset, p.filter_offset, y0 * w * c, (y1 - y0) * w * c,
                             first)
        calls = [Kernel(accumulate, q, (band, kern.args[1], acc))]
        if last:
            calls.append(Kernel(finish, p, (acc, kern.args[2], kern.args[3])))
        return calls
    q = AccumulateParams(0, c, 0, 0, 0, (y1 - y0) * w, first)  # channel sums: the band's pixels, from `at`
    calls = [Kernel(accumulate, q, (band, acc))]
    if last:
        calls.append(Kernel(finish, p, (acc, kern.args[-1])))
    return calls


def stage_buffers(g: Graph, buffers: list[Buffer], roots: dict[int, int], pp: PatchPlan) -> list[Buffer]:
    """The graph's buffers with the stage's inner tensors replaced by patch buffers: the split output lives from
    the stage's first op, the stage input until its last."""
    st = pp.stage
    inner = {roots[g.ops[k].outputs[0]] for k in range(st.start, st.split + 1)} - {roots[st.output], roots[st.input]}
    out = []
    for b in buffers:
        if b.id in inner:
            continue
        if b.id == roots[st.output] and st.reduced is None:
            b = replace(b, first=min(b.first, st.start))
        if b.id == roots[st.input]:
            if pp.streamed is not None:
                continue  # read from the application's memory, region by region
            b = replace(b, last=max(b.last, st.split))
        out.append(b)
    return out + list(pp.buffers)
