"""Static memory planning: buffer lifetimes over the execution order, offsets in one arena, and a checker.

Interface (kept small so better allocators can slot in):
    buffers = lifetimes(graph)            # one Buffer per storage class (RESHAPE outputs alias their input)
    plan = plan_memory(buffers)           # offsets and peak
    check_plan(buffers, plan)             # raises if two simultaneously live buffers overlap
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import TinymlError
from ..ir import NO_TENSOR, DType, Graph, OpKind


@dataclass(frozen=True)
class Buffer:
    id: BufferId         # the tensor index of the storage class's root, or a scratch or patch buffer
    size: int            # bytes
    first: int           # first step (op index) at which it must hold data
    last: int            # last step at which it is read
    align: int = 1
    tensors: tuple[int, ...] = ()  # every tensor stored here (root first, then aliases)

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Ref:
    """A kernel argument `offset` bytes into a buffer: `buffer` is a tensor index (its storage) or a scratch or
    patch buffer."""
    buffer: BufferId
    offset: int = 0
    ctype: str = "int8_t"  # the C element type the kernel takes there (int32_t: accumulators)


@dataclass(frozen=True)
class Source:
    """A kernel argument that is model input `index` read in place from the application's memory (a streamed
    input: not in the arena), `offset` bytes in."""
    index: int
    offset: int = 0


@dataclass(frozen=True)
class ScratchId:
    """The scratch buffer of op `op` (im2col rows, an in-place kernel's channel plane), live at that op only."""
    op: int

    def __str__(self) -> str:
        return f"scratch:op{self.op}"


@dataclass(frozen=True)
class PatchId:
    """The buffer of a patch stage that holds one patch (region) of tensor `tensor` at a time."""
    tensor: int

    def __str__(self) -> str:
        return f"patch:t{self.tensor}"


BufferId = int | ScratchId | PatchId  # int: the root tensor of a storage class (its tensors share the buffer)


def id_order(i: BufferId) -> tuple[int, int]:
    """A total order of buffer ids, the planner's last tie-break between buffers its orderings rank equal: patch
    buffers (later tensors first), then scratch buffers (later ops first), then tensors by index."""
    if isinstance(i, PatchId):
        return 0, -i.tensor
    if isinstance(i, ScratchId):
        return 1, -i.op
    return 2, i


@dataclass(frozen=True)
class Plan:
    offsets: dict[BufferId, int]  # buffer id -> byte offset in the arena
    peak: int                # arena bytes
    strategy: str = ""
    timeline: tuple[tuple[BufferId, ...], ...] = field(default=(), repr=False)  # live buffer ids per step
    # (output buffer id, input buffer id) -> gap: the output may start `gap` bytes (or more) below the input and
    # grow into it, because its kernel never writes a byte before the input byte there was read for the last time
    overlaps: dict[tuple[BufferId, BufferId], int] = field(default_factory=dict, repr=False)


def storage_roots(g: Graph, inplace: frozenset[int] = frozenset(),
                  slices: Mapping[int, tuple[int, int]] | None = None) -> dict[int, int]:
    """tensor index -> root tensor index of its storage. RESHAPE outputs share their input's storage, and so do
    the outputs of the ops in `inplace` (op indices whose kernel writes its output over its input) and the
    tensors in `slices` (tensor -> (the tensor it is stored inside, byte offset): zero-copy CONCATENATION)."""
    return _storage(g, inplace, slices)[0]


def storage_offsets(g: Graph, inplace: frozenset[int] = frozenset(),
                    slices: Mapping[int, tuple[int, int]] | None = None) -> dict[int, int]:
    """tensor index -> byte offset of the tensor inside its root's storage (0 except for slices)."""
    return _storage(g, inplace, slices)[1]


def _storage(g: Graph, inplace: frozenset[int],
             slices: Mapping[int, tuple[int, int]] | None) -> tuple[dict[int, int], dict[int, int]]:
    parent: dict[int, tuple[int, int]] = dict(slices or {})
    for k, op in enumerate(g.ops):
        if op.kind is OpKind.RESHAPE or k in inplace:
            parent[op.outputs[0]] = (op.inputs[0], 0)

    def find(t: int) -> tuple[int, int]:
        off = 0
        while t in parent:
            t, o = parent[t]
            off += o
        return t, off
    found = {t: find(t) for t in range(len(g.tensors))}
    return {t: r for t, (r, _) in found.items()}, {t: o for t, (_, o) in found.items()}


def lifetimes(g: Graph, inplace: frozenset[int] = frozenset(), scratch: dict[int, int] | None = None,
              unsized: frozenset[int] = frozenset(),
              slices: Mapping[int, tuple[int, int]] | None = None) -> list[Buffer]:
    """One buffer per storage class (sized for its largest member, except the tensors in `unsized`, which are
    never materialized: folded PAD outputs), plus scratch buffers {op index: bytes} that live for their op's step
    only. `slices` as for storage_roots."""
    roots, offsets = _storage(g, inplace, slices)
    n = len(g.ops)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    members: dict[int, list[int]] = {}

    def touch(t: int, step: int) -> None:
        r = roots[t]
        first[r] = min(first.get(r, step), step)
        last[r] = max(last.get(r, step), step)
    for t in g.inputs:
        touch(t, 0)
    for k, op in enumerate(g.ops):
        for t in op.inputs:
            if t != NO_TENSOR and not g.tensor(t).is_const:
                touch(t, k)
        for t in op.outputs:
            touch(t, k)
    for t in g.outputs:
        touch(t, max(n - 1, 0))
    for t, r in roots.items():
        if r in first:
            members.setdefault(r, []).append(t)
    out = []
    for r in sorted(first):
        if g.tensor(r).is_const:
            continue
        t = g.tensor(r)
        align = 4 if t.dtype in (DType.FLOAT32, DType.INT32) else (2 if t.dtype is DType.INT16 else 1)
        ts = tuple(sorted(members[r], key=lambda x: (x != r, x)))
        size = max(offsets[m] + g.tensor(m).nbytes for m in ts if m not in unsized or m == r)
        out.append(Buffer(r, size, first[r], last[r], align, ts))
    for k, size in sorted((scratch or {}).items()):
        out.append(Buffer(ScratchId(k), size, k, k, 1, ()))
    return out


def _forbidden(b: Buffer, p: Buffer, overlaps: dict[tuple[BufferId, BufferId], int]) -> tuple[int, int]:
    """The open interval of start offsets that `b` may not take, relative to where `p` starts."""
    if (b.id, p.id) in overlaps:  # b is an output that may grow into input p from below
        return -min(overlaps[(b.id, p.id)], b.size), p.size
    if (p.id, b.id) in overlaps:  # p is an output that may grow into input b
        return -b.size, min(overlaps[(p.id, b.id)], p.size)
    return -b.size, p.size


Conflicts = dict[BufferId, list[tuple[BufferId, int, int]]]  # buffer id -> (id, lo, hi) of every buffer live with it


def _conflicts(buffers: list[Buffer], overlaps: dict[tuple[BufferId, BufferId], int]) -> Conflicts:
    """For each buffer, the buffers live at the same time and the start offsets each forbids it (relative)."""
    conf: Conflicts = {b.id: [] for b in buffers}
    by_first = sorted(buffers, key=lambda b: b.first)
    for i, a in enumerate(by_first):
        for b in by_first[i + 1:]:
            if b.first > a.last:
                break
            conf[a.id].append((b.id, *_forbidden(a, b, overlaps)))
            conf[b.id].append((a.id, *_forbidden(b, a, overlaps)))
    return conf


def _first_fit(order: Iterable[Buffer], conflicts: Conflicts) -> dict[BufferId, int]:
    """Each buffer in turn at the lowest aligned offset outside the intervals its placed conflicts forbid
    (_lowest_offset)."""
    offsets: dict[BufferId, int] = {}
    for b in order:
        offsets[b.id] = _lowest_offset(((offsets[i] + lo, offsets[i] + hi) for i, lo, hi in conflicts[b.id]
                                        if i in offsets), b.align)
    return offsets


def _lowest_offset(forbidden: Iterable[tuple[int, int]], align: int) -> int:
    """The lowest `align`-aligned offset outside the open intervals `forbidden`: 0 or the aligned end of one; a
    sweep over them sorted by start finds it (one that starts before the current offset and ends after it moves
    it to its end)."""
    s = 0
    for lo, hi in sorted(forbidden):
        if lo < s < hi:
            s = -(-hi // align) * align
    return s


def _refit(order: list[Buffer], m: int, n: int, moved: BufferId, conflicts: Conflicts,
           offsets: dict[BufferId, int]) -> dict[BufferId, int]:
    """First fit of `order`, the order that gave `offsets` with buffer `moved` taken out and put back elsewhere
    (positions m..n are the ones between). The first m buffers keep their offsets. Any other buffer keeps its
    offset unless it conflicts with one that did not keep its own, or, between m and n (where `moved` is placed
    in one order and not yet in the other), with `moved`. Once past n with every offset kept so far, nothing
    after can change: `offsets` itself is returned then (the same plan)."""
    new: dict[BufferId, int] = {}  # the offsets that differ from `offsets`
    affected: set[BufferId] = set()  # the buffers that conflict with one in `new`
    near = {i for i, _, _ in conflicts[moved]}
    placed = {b.id for b in order[:m]}
    for p in range(m, len(order)):
        b = order[p]
        if p > n and not new:
            return offsets
        if b.id == moved or b.id in affected or (p <= n and b.id in near):
            s = _lowest_offset(((new.get(i, offsets[i]) + lo, new.get(i, offsets[i]) + hi)
                                for i, lo, hi in conflicts[b.id] if i in placed), b.align)
            if s != offsets[b.id]:
                new[b.id] = s
                affected.update(i for i, _, _ in conflicts[b.id])
        placed.add(b.id)
    return {**offsets, **new} if new else offsets


ORDERINGS: dict[str, Callable[[Buffer], tuple]] = {
    "size": lambda b: (-b.size, b.first, id_order(b.id)),                       # TFLM's greedy by size
    "size_x_lifetime": lambda b: (-b.size * (b.last - b.first + 1), -b.size, id_order(b.id)),
    "lifetime": lambda b: (-(b.last - b.first), -b.size, id_order(b.id)),
    "first_use": lambda b: (b.first, -b.size, id_order(b.id)),
    # later buffers first: a chain of outputs that each grow into their input from below places bottom-up
    "reverse_first_use": lambda b: (-b.first, -b.size, id_order(b.id)),
    "reverse_size": lambda b: (-b.last, -b.size, id_order(b.id)),
}


def _peak(buffers: list[Buffer], offs: dict[BufferId, int]) -> int:
    return max((offs[b.id] + b.size for b in buffers), default=0)


def plan_memory(buffers: list[Buffer], overlaps: dict[tuple[BufferId, BufferId], int] | None = None,
                search: int = 0) -> Plan:
    """First-fit under several buffer orderings; keeps the lowest peak (ties: the first ordering listed).
    `overlaps` lists the (output, input) buffer pairs that may share bytes, with their safe gaps.
    `search` > 0 then improves the best order by that many steps of a deterministic local search (move one buffer
    to another position in the order, keep the move when the peak does not grow), as TVM's hill climbing does;
    graphs of up to 6 buffers are solved exactly over all orders instead."""
    ov = dict(overlaps or {})
    conf = _conflicts(buffers, ov)
    best: Plan | None = None
    best_order: list[Buffer] = []
    for name, key in ORDERINGS.items():
        order = sorted(buffers, key=key)
        offs = _first_fit(order, conf)
        peak = _peak(buffers, offs)
        if best is None or peak < best.peak:
            best, best_order = Plan(offs, peak, name), order
    assert best is not None
    if search and 1 < len(buffers) <= 6:
        for order_t in itertools.permutations(buffers):
            offs = _first_fit(order_t, conf)
            peak = _peak(buffers, offs)
            if peak < best.peak:
                best = Plan(offs, peak, "exact")
    elif search and len(buffers) > 1:
        rng = random.Random(0)
        order, cur = list(best_order), best.peak
        cur_offs = best.offsets  # first fit of best_order (_refit never changes a dict it is given)
        for _ in range(search):
            i, j = rng.randrange(len(order)), rng.randrange(len(order))
            if i == j:
                continue
            cand = list(order)
            cand.insert(j, cand.pop(i))
            offs = _refit(cand, min(i, j), max(i, j), order[i].id, conf, cur_offs)
            peak = cur if offs is cur_offs else _peak(buffers, offs)
            if peak <= cur:
                order, cur, cur_offs = cand, peak, offs
                if peak < best.peak:
                    best = Plan(offs, peak, f"{best.strategy.split('+')[0]}+search")
    steps = max((b.last for b in buffers), default=-1) + 1
    timeline = tuple(tuple(b.id for b in buffers if b.first <= s <= b.last) for s in range(steps))
    plan = Plan(best.offsets, best.peak, best.strategy, timeline, ov)
    check_plan(buffers, plan)
    return plan


def arena_align(buffers: list[Buffer]) -> int:
    return max((b.align for b in buffers), default=1)


def arena_bytes(buffers: list[Buffer], plan: Plan) -> int:
    """Bytes the arena object really occupies (a union with int32 rounds up to its alignment)."""
    a = arena_align(buffers)
    return max(-(-plan.peak // a) * a, a)


def check_plan(buffers: list[Buffer], plan: Plan) -> None:
    """Prove that no two buffers that are live at the same step share a byte (except an output growing into an
    input it consumes, from at least the safe gap below it), and that all fit the arena."""
    for b in buffers:
        o = plan.offsets[b.id]
        if o < 0 or o + b.size > plan.peak or o % b.align:
            raise TinymlError(f"internal planner error: buffer {b.id} at {o}+{b.size} outside arena {plan.peak}")
    by_first = sorted(buffers, key=lambda b: b.first)  # every pair live together, each once (a sweep)
    for i, a in enumerate(by_first):
        oa = plan.offsets[a.id]
        for b in by_first[i + 1:]:
            if b.first > a.last:
                break
            if a.overlaps_in_time(b):
                ob = plan.offsets[b.id]
                if oa < ob + b.size and ob < oa + a.size and not _allowed(a, oa, b, ob, plan.overlaps):
                    raise TinymlError(f"internal planner error: buffers {a.id} and {b.id} are live together "
                                      f"(steps {a.first}-{a.last} and {b.first}-{b.last}) but overlap in memory")


def _allowed(a: Buffer, oa: int, b: Buffer, ob: int, overlaps: dict[tuple[BufferId, BufferId], int]) -> bool:
    if (a.id, b.id) in overlaps:  # a is the output, b the input
        return ob - oa >= min(overlaps[(a.id, b.id)], a.size)
    if (b.id, a.id) in overlaps:
        return oa - ob >= min(overlaps[(b.id, a.id)], b.size)
    return False


def max_layer_io(g: Graph) -> int:
    """max over ops of bytes(non-constant inputs) + bytes(outputs): the lower bound on peak activation RAM for
    layer-by-layer execution without in-place tricks (aliasing ops such as RESHAPE excluded)."""
    best = 0
    for op in g.ops:
        if op.kind is OpKind.RESHAPE:
            continue
        ins = {i for i in g.activation_inputs(op)}
        best = max(best, sum(g.tensor(i).nbytes for i in ins) + sum(g.tensor(o).nbytes for o in op.outputs))
    return best
