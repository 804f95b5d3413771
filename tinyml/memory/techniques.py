"""Which memory techniques apply to which layer, and the plan they give.

- in-place depthwise (TinyEngine): a DEPTHWISE_CONV_2D with depth multiplier 1 whose input dies at it writes
  its output over its input, channel by channel, through a one-channel scratch plane of in_h * in_w bytes;
- overlapping buffers (vMCU-style): a layer's output starts an exact, per-layer safe gap below an input that
  dies at it (tinyml/memory/overlap.py) and grows into it.
For each depthwise layer where both apply, the one with the smaller footprint is taken.
- zero-copy CONCATENATION: an input made by one kernel for the concatenation alone is written by that kernel
  straight into its slice of the output (contiguous slices by any kernel; channel or column slices by the
  convolution and pooling kernels, through their output strides), so the copy and the separate buffer vanish.
- patch-based inference (MCUNetV2, tinyml/memory/patching.py): the first stage of a CNN runs patch by patch.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..errors import TinymlError
from ..ir import NO_TENSOR, Graph, OpKind
from ..kernels import KERNELS, choose, in_place, in_place_slower, pixel_block, simd, wide_kernel, widened
from ..params import ConvParams, CopyParams, Kernel, PadParams, PoolParams
from .overlap import safe_gap
from .patching import PatchPlan, plan_patches, stage_buffers, stages
from .planner import (
    Buffer,
    Plan,
    Ref,
    ScratchId,
    arena_align,
    arena_bytes,
    check_plan,
    lifetimes,
    plan_memory,
    storage_roots,
)

# (op index, kernel calls) blocks in execution order; a patch stage repeats its ops once per patch
Schedule = list[tuple[int, list[Kernel]]]


@dataclass(frozen=True)
class MemoryOptions:
    inplace: bool = True
    overlap: bool = True
    patch: tuple[int, int] | None = None  # patch grid (rows, columns) of the first stage; None: layer by layer
    split: int | None = None              # last op of the patch stage (None: the one with the lowest peak)
    search: int = 500                     # local-search steps of the allocator (0: ordering heuristics only)
    stream_input: bool = False            # patch stage reads its model input region by region, outside the arena
    zero_copy_concat: bool = True         # producers write CONCATENATION inputs into the output's slices
    halos: str = "recompute"              # patch halos: "recompute" (MCUNetV2), "cache" (R x 1 bands keep
                                          # them in window buffers: no extra MACs), "auto" (the lower peak)
    isa: str | None = None                # generated kernels (tinyml.kernels): their scratch and write order
    ceiling: int | None = None            # an SRAM budget (bytes of arena): depthwise layers run out of place
                                          # and im2col gets its third row, where that is faster, while the arena
                                          # stays within it


HALO_MODES = ("auto", "recompute", "cache")


def _halo_modes(options: MemoryOptions) -> tuple[bool, ...]:
    """The `cache` flags of plan_patches that options.halos allows."""
    if options.halos not in HALO_MODES:
        raise TinymlError(f"--halos '{options.halos}' is not one of {', '.join(HALO_MODES)}")
    return {"auto": (False, True), "recompute": (False,), "cache": (True,)}[options.halos]


@dataclass(frozen=True)
class MemoryPlan:
    kernels: list[list[Kernel]]     # kernels, with in-place variants substituted
    buffers: list[Buffer]
    plan: Plan
    inplace_ops: frozenset[int]
    options: MemoryOptions
    schedule: Schedule
    patch: PatchPlan | None = None
    folded_pads: frozenset[int] = frozenset()  # PAD ops folded into the convolutions that read them
    slices: dict[int, tuple[int, int]] = field(default_factory=dict)  # tensor -> (concat output, byte offset)

    @property
    def aliased_ops(self) -> frozenset[int]:
        """Ops whose output shares its input's storage (in-place depthwise, folded PAD)."""
        return self.inplace_ops | self.folded_pads


def _last_reads(g: Graph, roots: dict[int, int]) -> dict[int, int]:
    """storage root -> the last op that reads it (graph outputs: past the last op, never dying)."""
    last: dict[int, int] = {}
    for j, op in enumerate(g.ops):
        for i in op.inputs:
            if i != NO_TENSOR:
                last[roots[i]] = j
    for o in g.outputs:
        last[roots[o]] = len(g.ops)
    return last


def _dies_at(g: Graph, last: dict[int, int], roots: dict[int, int], t: int, k: int) -> bool:
    """True if the storage of tensor `t` is read for the last time by op `k` (and is not a graph output);
    `last` is _last_reads(g, roots)."""
    r = roots[t]
    return not g.tensor(r).is_const and last.get(r, -1) <= k


def fold_pads(g: Graph, kernels: list[list[Kernel]]) -> tuple[list[list[Kernel]], frozenset[int]]:
    """Zero-copy PAD: a spatial PAD whose value is the zero point of every convolution that reads it is folded
    into them (larger leading padding, the unpadded input): the convolution kernels skip out-of-image taps, which
    contribute (zero point + input offset) * w = 0 exactly as the padded values would. The PAD then runs no code
    and its output is an alias of its input."""
    consumers = g.consumers()
    out = [list(ks) for ks in kernels]
    folded = set()
    for k, op in enumerate(g.ops):
        if op.kind is not OpKind.PAD or len(kernels[k]) != 1 or op.outputs[0] in g.outputs:
            continue
        pp = kernels[k][0].params
        assert isinstance(pp, PadParams)
        y = op.outputs[0]
        users = consumers.get(y, [])
        if (not users or pp.before[0] or pp.before[3] or pp.in_dims[0] != pp.out_dims[0]
                or pp.in_dims[3] != pp.out_dims[3]):
            continue
        convs = [kernels[j][0] if len(kernels[j]) == 1 else None for j in users]
        if not all(c is not None and isinstance(c.params, ConvParams) and c.args[0] == y
                   and c.params.input_offset == -pp.pad_value and y not in c.args[1:] for c in convs):
            continue
        for j, c in zip(users, convs):
            assert c is not None and isinstance(c.params, ConvParams)
            q = replace(c.params, in_h=pp.in_dims[1], in_w=pp.in_dims[2], pad_h=c.params.pad_h + pp.before[1],
                        pad_w=c.params.pad_w + pp.before[2])
            out[j] = [replace(c, params=q)]
        out[k] = []
        folded.add(k)
    return out, frozenset(folded)


def concat_slices(g: Graph, kernels: list[list[Kernel]], exclude: frozenset[int] = frozenset()
                  ) -> tuple[list[list[Kernel]], dict[int, tuple[int, int]]]:
    """Zero-copy CONCATENATION: each input that one kernel produces for the concatenation alone (not a model
    input or output, not read by anything else, not made by an op in `exclude`) is written by that kernel into
    its slice of the output, and its copy is dropped. A slice that is contiguous in the output (everything
    before the axis has size 1) takes any kernel; a channel (or column) slice of a 4-D output takes the
    convolution and pooling kernels, given the output's row and pixel strides. Returns the kernels with the
    copies removed and the producers' strides set, and {input tensor: (concat output, byte offset)}."""
    consumers = g.consumers()
    producer = {o: k for k, op in enumerate(g.ops) for o in op.outputs}
    out = [list(ks) for ks in kernels]
    slices: dict[int, tuple[int, int]] = {}
    for k, op in enumerate(g.ops):
        if op.kind is not OpKind.CONCATENATION or k in exclude:
            continue
        y = g.tensor(op.outputs[0])
        keep = []
        for kern in kernels[k]:
            x, cp = kern.args[0], kern.params
            assert isinstance(cp, CopyParams)
            j = producer.get(x)
            new = None
            if (j is not None and j not in exclude and consumers.get(x) == [k] and op.inputs.count(x) == 1
                    and x not in g.outputs and len(out[j]) == 1 and out[j][0].args[-1] == x
                    and g.ops[j].kind is not OpKind.CONCATENATION):
                prod = out[j][0]
                if cp.outer == 1:  # a contiguous slice: any kernel writes it as it is
                    new = prod
                elif (KERNELS[prod.func].strided_output and len(y.shape) == 4 and y.shape[0] == 1
                      and isinstance(prod.params, (ConvParams, PoolParams))):
                    row = y.shape[2] * y.shape[3]  # elements per output row and per pixel of the concat output
                    new = replace(prod, params=replace(prod.params, out_row_stride=row, out_px_stride=y.shape[3]))
            if new is None:
                keep.append(kern)
                continue
            out[j] = [new]
            slices[x] = (op.outputs[0], cp.dst_offset)
        out[k] = keep
    return out, slices


def plan(g: Graph, kernels: list[list[Kernel]], options: MemoryOptions = MemoryOptions()) -> MemoryPlan:
    """The memory plan for `options`; with a patch grid, the split point (if not forced) that gives the lowest
    peak, ties broken by fewer extra MACs. Graphs with int16 (16x8) activations are planned layer by layer
    without in-place, overlapping or zero-copy buffers (those analyses assume one byte per element)."""
    if g.wide:
        if options.patch is not None:
            raise TinymlError(f"'{g.source or g.name}' has int16 (16x8) activations; patch-based inference (--patch "
                              f"{options.patch[0]}x{options.patch[1]}) is planned for int8 activations only: use "
                              "--patch auto or off")
        return _plan(g, kernels, frozenset(), replace(options, inplace=False, overlap=False, zero_copy_concat=False),
                     None)
    kernels, folded = fold_pads(g, kernels)
    if options.patch is None:
        return _plan(g, kernels, folded, options, None)
    cands = [st for st in stages(g, kernels) if options.split is None or st.split == options.split]
    if not cands:
        where = f" ending at op {options.split}" if options.split is not None else ""
        valid = ", ".join(str(st.split) for st in stages(g, kernels)) or "none"
        raise TinymlError(f"no patch stage{where} in '{g.source or g.name}': a patch stage is a run of "
                          "CONV_2D/DEPTHWISE_CONV_2D/pooling/ADD ops at the start of the network with one input "
                          f"and one output (valid split points, by op index: {valid})")
    best: MemoryPlan | None = None
    for st in cands:
        for cache in _halo_modes(options):
            pp = plan_patches(g, kernels, st, options.patch, options.stream_input, cache)
            if pp is None:
                continue
            mp = _plan(g, kernels, folded, options, pp)
            assert mp.patch is not None
            if best is None or (mp.plan.peak, pp.extra_macs) < (best.plan.peak, best.patch.extra_macs):  # type: ignore
                best = mp
    if best is None:
        r, c = options.patch
        if options.halos == "cache" and c != 1:
            raise TinymlError(f"--halos cache needs a grid of whole-row bands (R x 1), not {r}x{c}")
        if c != 1 and any(st.reduced is not None for st in cands):
            raise TinymlError(f"a {r}x{c} patch grid does not fit the split output of any patch stage of "
                              f"'{g.source or g.name}' (it needs at least {r} rows and {c} columns), and stages that "
                              "go on to their classifier need a grid of whole-row bands (R x 1)")
        if options.stream_input:
            raise TinymlError(f"--stream-input: no patch stage of '{g.source or g.name}' that fits a {r}x{c} grid "
                              "reads a model input that nothing else reads; streaming needs the first stage to "
                              "start at a model input")
        raise TinymlError(f"a {r}x{c} patch grid does not fit the split output of any patch stage of "
                          f"'{g.source or g.name}' (it needs at least {r} rows and {c} columns)")
    return best


# The budget search and the error that explains an unmet budget ask for the same configurations of the same graph
# (several seconds each on a large model): the last few answers are kept, keyed by the graph object (held here,
# so that its id cannot be reused), the kernels' contents and the options. Plans are immutable.
_MEMO: dict[str, dict[tuple, tuple[Graph, object]]] = {}
_MEMO_SIZE = {"patch_options": 6, "refine": 6, "replan": 128}  # answers kept per kind (replan: one per candidate)


def _memo(g: Graph, key: tuple, make: Callable[[], object]) -> object:
    memo = _MEMO.setdefault(key[0], {})
    key = (id(g), *key)
    hit = memo.get(key)
    if hit is not None and hit[0] is g:
        return hit[1]
    value = make()
    memo[key] = (g, value)
    while len(memo) > _MEMO_SIZE[key[1]]:
        del memo[next(iter(memo))]
    return value


def _kernels_key(kernels: list[list[Kernel]]) -> tuple:
    return tuple(tuple(ks) for ks in kernels)


def patch_options(g: Graph, kernels: list[list[Kernel]], options: MemoryOptions,
                  grids: tuple[tuple[int, int], ...] = (), below: int | None = None) -> list[MemoryPlan]:
    options = replace(options, search=0)
    return list(_memo(g, ("patch_options", _kernels_key(kernels), options, grids, below),  # type: ignore[arg-type]
                      lambda: _patch_options(g, kernels, options, grids, below)))


def _patch_options(g: Graph, kernels: list[list[Kernel]], options: MemoryOptions,
                   grids: tuple[tuple[int, int], ...] = (), below: int | None = None) -> list[MemoryPlan]:
    """Every (split point, grid, halo mode) configuration, for the budget search; grids default to n x n and n x 1
    (n <= 8) with recomputed halos, and every band height with cached halos. These plans use the allocator's
    heuristics only; re-plan the one you pick with replan() to search further. `below`: skip cached-halo
    configurations that cannot reach a peak below it (their window buffers and split output are live together)."""
    options = replace(options, search=0)
    if g.wide:
        return []
    kernels, folded = fold_pads(g, kernels)
    out = []
    for st in stages(g, kernels):
        hs = g.tensor(st.banded).shape[1]
        for cache in _halo_modes(options):
            halos = "cache" if cache else "recompute"
            for grid in grids or (tuple((n, 1) for n in range(2, hs + 1)) if cache else
                                  tuple((n, m) for n in range(2, 9) for m in (n, 1))):
                pp = plan_patches(g, kernels, st, grid, options.stream_input, cache, below if cache else None)
                if pp is not None:
                    out.append(_plan(g, kernels, folded, replace(options, patch=grid, split=st.split, halos=halos),
                                     pp))
    return out


RANK_KEEP = 12     # candidates per halo mode that refine() plans again
RANK_SEARCH = 100  # local-search steps refine() gives each of them


def refine(g: Graph, kernels: list[list[Kernel]], cands: list[MemoryPlan]) -> list[MemoryPlan]:
    """`cands` (from patch_options, heuristics only) with the RANK_KEEP of lowest peak in each halo mode planned
    again with a short local search: the heuristics alone rank the configurations only roughly (person_detect,
    12x1 bands with cached halos: 27,648 bytes by heuristics, 19,280 after search). Plan the pick once more with
    replan() for the full search."""
    held = tuple(cands)  # kept with the answer, so that the ids in the key stay theirs
    kept, out = _memo(g, ("refine", _kernels_key(kernels), tuple(map(id, held))),  # type: ignore[misc]
                      lambda: (held, _refine(g, kernels, cands)))
    return list(out)


def _refine(g: Graph, kernels: list[list[Kernel]], cands: list[MemoryPlan]) -> list[MemoryPlan]:
    out = list(cands)
    for cached in (False, True):
        mode = [k for k, m in enumerate(cands) if m.patch is not None and m.patch.cached == cached]
        for k in sorted(mode, key=lambda k: cands[k].plan.peak)[:RANK_KEEP]:
            out[k] = replan(g, kernels, cands[k], RANK_SEARCH)
    return out


def replan(g: Graph, kernels: list[list[Kernel]], mp: MemoryPlan, search: int | None = None) -> MemoryPlan:
    """A configuration from patch_options planned again with `search` local-search steps (default: the full
    search)."""
    if mp.patch is None:
        return mp
    options = replace(mp.options, search=MemoryOptions().search if search is None else search,
                      halos="cache" if mp.patch.cached else "recompute")
    return _memo(g, ("replan", _kernels_key(kernels), options), lambda: plan(g, kernels, options))  # type: ignore


def _plan(g: Graph, kernels: list[list[Kernel]], folded: frozenset[int], options: MemoryOptions,
          pp: PatchPlan | None) -> MemoryPlan:
    """Per-layer choices interact (an in-place buffer keeps its larger size for the whole lifetime of the output,
    e.g. after a stride-2 depthwise), so plan with each per-layer preference and keep the lowest peak.
    Zero-copy concatenation lengthens the output's life (from its first producer on), so it is tried on and off.
    """
    zero_copy = [False]
    if options.zero_copy_concat and any(op.kind is OpKind.CONCATENATION for op in g.ops):
        zero_copy.insert(0, True)
    memo: dict[tuple, MemoryPlan] = {}  # preferences that lead to the same decisions give the same plan
    stage_ops = range(pp.stage.start, pp.stage.split + 1) if pp else range(0)
    plans = []
    for zc in zero_copy:
        ks, slices = concat_slices(g, kernels, frozenset(stage_ops)) if zc else (kernels, {})
        if zc and not slices:
            continue  # nothing to write in place: the same kernels and plans as without
        choices = _technique_options(g, ks, folded, options, stage_ops, slices)
        for prefer in ("footprint", "overlap", "inplace"):
            choice = _choose_techniques(choices, prefer)
            plans.append((_plan_one(g, ks, folded, options, pp, zc, slices, choice, memo),
                          (ks, zc, slices, choices, choice)))
    if not simd(options.isa):  # the runtime kernels: equal peaks, fewer in-place layers
        return min(plans, key=lambda c: (c[0].plan.peak, len(c[0].inplace_ops)))[0]

    # generated kernels, equal peaks: fewer in-place layers where the in-place kernel is slower (it works channel
    # by channel), more where it is faster
    @functools.cache
    def slower(k: int) -> bool:
        return in_place_slower(kernels[k][0], options.isa, g)

    best, how = min(plans, key=lambda c: (c[0].plan.peak, sum(map(slower, c[0].inplace_ops)),
                                          -sum(not slower(k) for k in c[0].inplace_ops)))
    return _faster_in_place(g, folded, options, pp, best, how, memo, slower)


def _faster_in_place(g: Graph, folded: frozenset[int], options: MemoryOptions, pp: PatchPlan | None,
                     best: MemoryPlan, how: tuple, memo: dict[tuple, MemoryPlan],
                     slower: Callable[[int], bool]) -> MemoryPlan:
    """`best` with each depthwise layer that could run in place, one at a time in op order, run the faster way
    (`slower(k)`: layer k runs slower in place) wherever that does not raise the arena above `best`'s, or above
    options.ceiling (an SRAM budget) where that is higher: out of place (growing into its input where it may, as
    the overlap preference has it) where the generated pixel kernels beat the in-place channel-plane kernel
    (person_detect's stride-2 layers; kws's 4.3 against 6.0 modeled M4 cycles per MAC), in place where the plane
    kernel is faster (stride 1 across on dsp: kernels.in_place_slower); SRAM a layer's choice does not need buys
    nothing. Under a budget the memory the board has goes to speed, as layer by layer goes before patches
    (compiler.plan_candidates)."""
    ks, zc, slices, (per_op, need), (inplace, scratch, overlap_pairs) = how
    limit = max(arena_bytes(best.buffers, best.plan), options.ceiling or 0)
    for k in sorted(per_op):
        if per_op[k][2] is None or (k in inplace) != slower(k):
            continue  # cannot run in place, or already runs the faster way
        if k in inplace:
            trial_inplace = set(inplace) - {k}
            trial_scratch = {op: n for op, n in scratch.items() if op != k}
            if k in need:
                trial_scratch[k] = need[k]
            trial_pairs = dict(overlap_pairs)
            if per_op[k][1] is not None:
                trial_pairs[k] = per_op[k][1]
        else:
            trial_inplace = set(inplace) | {k}
            trial_scratch = dict(scratch)
            trial_scratch[k] = per_op[k][2][1]
            trial_pairs = {op: pair for op, pair in overlap_pairs.items() if op != k}
        choice = (trial_inplace, trial_scratch, trial_pairs)
        mp = _plan_one(g, ks, folded, options, pp, zc, slices, choice, memo)
        if arena_bytes(mp.buffers, mp.plan) <= limit:
            best, (inplace, scratch, overlap_pairs) = mp, choice
    return best


def _overlap_choice(g: Graph, k: int, kern: Kernel, options: MemoryOptions, last: dict, roots: dict[int, int]
                    ) -> tuple[int | None, tuple[int, int] | None]:
    """The cheapest input op `k`'s output may grow into (one that dies at `k`): (extra bytes, (input, gap)), or
    (None, None)."""
    op = g.ops[k]
    best_extra: int | None = None
    pair: tuple[int, int] | None = None
    for pos, t in enumerate(op.inputs):
        if t == NO_TENSOR or g.tensor(t).is_const or not _dies_at(g, last, roots, t, k):
            continue
        if sum(1 for u in op.inputs if u != NO_TENSOR and roots[u] == roots[t]) > 1:
            continue  # the same storage read twice (x + x)
        sp = choose(kern, options.isa, g)
        gap = safe_gap(kern, pos, pixel_block(sp))
        if gap is None:
            continue
        extra = max(gap + g.tensor(t).nbytes, g.tensor(op.outputs[0]).nbytes) - g.tensor(t).nbytes
        if best_extra is None or extra < best_extra:
            best_extra, pair = extra, (t, gap)
    return best_extra, pair


# per op: (extra bytes of its best overlap or None, (input, gap) or None, (extra bytes, plane bytes) of running
# it in place or None); and the scratch bytes of each op's generated kernels
Choices = tuple[dict[int, tuple[int | None, tuple[int, int] | None, tuple[int, int] | None]], dict[int, int]]


def _technique_options(g: Graph, kernels: list[list[Kernel]], folded: frozenset[int], options: MemoryOptions,
                       stage_ops: range, slices: dict[int, tuple[int, int]]) -> Choices:
    """What each op could do: grow into a dying input (with its safe gap) and what that costs, run in place
    (depthwise) and what that costs; the scratch bytes its generated kernels need."""
    base_roots = storage_roots(g, folded, slices)
    base_last = _last_reads(g, base_roots)
    per_op: dict[int, tuple[int | None, tuple[int, int] | None, tuple[int, int] | None]] = {}
    for k, (op, ks) in enumerate(zip(g.ops, kernels)):
        if len(ks) != 1 or not op.outputs or k in stage_ops or op.outputs[0] in slices:
            continue
        kern = ks[0]
        best_extra, pair = _overlap_choice(g, k, kern, options, base_last, base_roots) if options.overlap else \
            (None, None)
        p = kern.params
        inplace = None
        alone = in_place(kern, kern.args)
        if (options.inplace and op.kind is OpKind.DEPTHWISE_CONV_2D and alone is not None
                and _dies_at(g, base_last, base_roots, op.inputs[0], k)):
            assert isinstance(p, ConvParams)
            x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
            sp = choose(alone, options.isa, g)
            plane = sp.scratch if sp is not None else p.in_h * p.in_w  # the generated kernel's plane is padded
            inplace = (max(x.nbytes, y.nbytes) + plane - x.nbytes, plane)
        per_op[k] = (best_extra, pair, inplace)
    need = {k: n for k, ks in enumerate(kernels)  # scratch of generated kernels (im2col rows), patch regions too
            if (n := max((sp.scratch for kern in ks if (sp := choose(kern, options.isa, g)) is not None),
                         default=0))}
    return per_op, need


def _choose_techniques(choices: Choices, prefer: str) -> tuple[set[int], dict[int, int], dict[int, tuple[int, int]]]:
    """Per op: in place (depthwise), growing into a dying input (with its safe gap), or neither, by `prefer`
    (footprint: the cheaper of the two; overlap; inplace); and the scratch bytes each op needs. Returns (in-place
    ops, op -> scratch bytes, op -> (input tensor, gap))."""
    per_op, need = choices
    inplace: set[int] = set()
    scratch: dict[int, int] = {}
    overlap_pairs: dict[int, tuple[int, int]] = {}  # op -> (input tensor, gap)
    for k, (best_extra, pair, inplace_cost) in per_op.items():
        if pair is not None:
            overlap_pairs[k] = pair
        if inplace_cost is not None:
            extra, plane = inplace_cost
            if best_extra is None or prefer == "inplace" or (prefer == "footprint" and extra < best_extra):
                inplace.add(k)
                scratch[k] = plane
                overlap_pairs.pop(k, None)
    for k, n in need.items():
        if k not in inplace:
            scratch[k] = n
    return inplace, scratch, overlap_pairs


def _schedule(g: Graph, kernels: list[list[Kernel]], pp: PatchPlan | None) -> Schedule:
    """The calls in execution order: layer by layer, or the patch stage's calls patch by patch in its place."""
    if pp is None:
        return list(enumerate(kernels))
    schedule: Schedule = [(k, kernels[k]) for k in range(pp.stage.start)]
    for calls in pp.calls:
        begin = len(schedule)
        for k, kern in calls:
            if len(schedule) > begin and schedule[-1][0] == k:  # a patch's calls of one layer: one block
                schedule[-1][1].append(kern)
            else:
                schedule.append((k, [kern]))
    # ops of the stage that run no code (a RESHAPE before its reduction) still appear, as aliases
    schedule += [(k, []) for k in range(pp.stage.start, pp.stage.split + 1) if not kernels[k]]
    schedule += [(k, kernels[k]) for k in range(pp.stage.split + 1, len(g.ops))]
    return schedule


def _plan_one(g: Graph, kernels: list[list[Kernel]], folded: frozenset[int], options: MemoryOptions,
              pp: PatchPlan | None, zero_copy: bool, slices: dict[int, tuple[int, int]],
              choice: tuple[set[int], dict[int, int], dict[int, tuple[int, int]]],
              memo: dict[tuple, MemoryPlan] | None = None) -> MemoryPlan:
    """`kernels` with PADs already folded (fold_pads), `folded` the PAD ops; with `zero_copy`, `slices` the
    zero-copy concatenation (concat_slices, which gave `kernels`); `choice` from _choose_techniques."""
    inplace, scratch, overlap_pairs = choice
    frozen = frozenset(inplace)
    key = (zero_copy, frozen, tuple(sorted(overlap_pairs.items())), tuple(sorted(scratch.items())))
    if memo is not None and key in memo:
        return memo[key]
    roots = storage_roots(g, frozen | folded, slices)
    buffers = lifetimes(g, frozen | folded, scratch, unsized=frozenset(g.ops[k].outputs[0] for k in folded),
                        slices=slices)
    overlaps = {(roots[g.ops[k].outputs[0]], roots[t]): gap for k, (t, gap) in overlap_pairs.items()}
    if pp is not None:
        buffers = stage_buffers(g, buffers, roots, pp)
        st = pp.stage
        if options.overlap and pp.input_gap is not None and \
                _dies_at(g, _last_reads(g, roots), roots, st.input, st.split):
            overlaps[(roots[st.output], roots[st.input])] = pp.input_gap
    new_kernels = [list(ks) for ks in kernels]
    for k in sorted(frozen):
        kern = kernels[k][0]
        op = g.ops[k]
        call = in_place(kern, (op.inputs[0], op.inputs[1], kern.args[2], ScratchId(k), op.outputs[0]))
        assert call is not None
        new_kernels[k] = [call]
    schedule = _schedule(g, new_kernels, pp)
    check_schedule(g, schedule, buffers, roots)
    plan = plan_memory(buffers, overlaps, options.search)
    new_kernels, schedule, buffers, plan = widen_im2col(g, new_kernels, schedule, buffers, plan, options.isa,
                                                          options.ceiling)
    mp = MemoryPlan(new_kernels, buffers, plan, frozen, options, schedule, pp, folded, slices)
    if memo is not None:
        memo[key] = mp
    return mp


def widen_im2col(g: Graph, kernels: list[list[Kernel]], schedule: Schedule, buffers: list[Buffer],
                 plan: Plan, isa: str | None, ceiling: int | None = None
                 ) -> tuple[list[list[Kernel]], Schedule, list[Buffer], Plan]:
    """Give gathered (im2col) convolutions a third scratch row where the arena has room for it at their step
    and the kernel selector has a three-pixel kernel for them under `isa` (tinyml.kernels.wide_kernel): their
    calls become the wide variant (tinyml.kernels.widened), the scratch buffer grows (moved to the lowest free
    place if it does not fit where it is). Room means below the peak, or below `ceiling` (an SRAM budget: the
    arena then grows for speed, ResNet-8's 3x3 layers on mps2-an386); a staged block of three needs no larger
    overlap gap than a pair. The plan is checked again."""
    offsets = dict(plan.offsets)
    by_id = {b.id: b for b in buffers}
    align = arena_align(buffers)
    top = max(plan.peak, (ceiling or 0) // align * align)
    peak = plan.peak
    wide: set[int] = set()
    for k, ks in enumerate(kernels):
        b = by_id.get(ScratchId(k))
        if b is None or not ks:
            continue
        sps = [wide_kernel(kern, isa, g) for kern in ks]
        if any(sp is None for sp in sps):
            continue
        need = max(sp.scratch for sp in sps if sp is not None)
        busy = sorted((offsets[o.id], offsets[o.id] + o.size) for o in map(by_id.__getitem__, plan.timeline[k])
                      if o.id != b.id and o.size)  # the buffers live at step k
        off = 0
        for lo, hi in busy:
            if off + need <= lo:
                break
            off = max(off, -(-hi // b.align) * b.align)
        if off + need > top:
            continue
        by_id[b.id] = replace(b, size=need)
        offsets[b.id] = off
        peak = max(peak, off + need)
        wide.add(k)
    if not wide:
        return kernels, schedule, buffers, plan
    buffers = [by_id[b.id] for b in buffers]
    plan = replace(plan, offsets=offsets, peak=peak)
    check_plan(buffers, plan)
    kernels = [[widened(kern) for kern in ks] if k in wide else ks for k, ks in enumerate(kernels)]
    schedule = [(k, [widened(kern) for kern in ks] if k in wide else ks) for k, ks in schedule]
    return kernels, schedule, buffers, plan


def check_schedule(g: Graph, schedule: Schedule, buffers: list[Buffer], roots: dict[int, int]) -> None:
    """Prove that every kernel call reads and writes only buffers that are live at its step: the planner may
    give a buffer's bytes to another one outside its lifetime, so a call at step k that touches a buffer whose
    lifetime does not include k would read or write someone else's data."""
    life = {b.id: (b.first, b.last) for b in buffers}
    for k, ks in schedule:
        for kern in ks:
            for a in kern.args:
                if isinstance(a, Ref):
                    bid = roots[a.buffer] if isinstance(a.buffer, int) else a.buffer
                elif isinstance(a, ScratchId):
                    bid = a
                elif isinstance(a, int) and a != NO_TENSOR and not g.tensor(a).is_const:
                    bid = roots[a]
                else:
                    continue
                first, last = life.get(bid, (1, 0))
                if not first <= k <= last:
                    raise TinymlError(f"internal planner error: {kern.func} of op {k} touches buffer {bid}, which "
                                      f"is live only at steps {first}-{last}")
