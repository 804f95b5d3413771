"""Static memory planning: buffer lifetimes over the execution order, offsets in one arena, and a checker.

Interface (kept small so better allocators can slot in):
    buffers = lifetimes(graph)            # one Buffer per storage class (RESHAPE outputs alias their input)
    plan = plan_memory(buffers)           # offsets and peak
    check_plan(buffers, plan)             # raises if two simultaneously live buffers overlap
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import TinymlError
from ..ir import NO_TENSOR, DType, Graph, OpKind


@dataclass(frozen=True)
class Buffer:
    id: int              # the tensor index of the storage class's root
    size: int            # bytes
    first: int           # first step (op index) at which it must hold data
    last: int            # last step at which it is read
    align: int = 1
    tensors: tuple[int, ...] = ()  # every tensor stored here (root first, then aliases)

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Plan:
    offsets: dict[int, int]  # buffer id -> byte offset in the arena
    peak: int                # arena bytes
    strategy: str = ""
    timeline: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # live buffer ids per step


def storage_roots(g: Graph) -> dict[int, int]:
    """tensor index -> root tensor index of its storage (RESHAPE outputs share their input's storage)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t
    for op in g.ops:
        if op.kind is OpKind.RESHAPE:
            root[op.outputs[0]] = find(op.inputs[0])
    return {t: find(t) for t in range(len(g.tensors))}


def lifetimes(g: Graph) -> list[Buffer]:
    roots = storage_roots(g)
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
        out.append(Buffer(r, t.nbytes, first[r], last[r], align, ts))
    return out


def _first_fit(order: Iterable[Buffer]) -> dict[int, int]:
    placed: list[tuple[int, int, Buffer]] = []  # (offset, end, buffer)
    offsets: dict[int, int] = {}
    for b in order:
        conflicts = sorted((o, e) for o, e, p in placed if p.overlaps_in_time(b))
        off = 0
        for o, e in conflicts:
            cand = -(-off // b.align) * b.align
            if cand + b.size <= o:
                break
            off = max(off, e)
        off = -(-off // b.align) * b.align
        offsets[b.id] = off
        placed.append((off, off + b.size, b))
    return offsets


ORDERINGS: dict[str, Callable[[Buffer], tuple]] = {
    "size": lambda b: (-b.size, b.first, b.id),                       # TFLM's greedy by size
    "size_x_lifetime": lambda b: (-b.size * (b.last - b.first + 1), -b.size, b.id),
    "lifetime": lambda b: (-(b.last - b.first), -b.size, b.id),
    "first_use": lambda b: (b.first, -b.size, b.id),
}


def plan_memory(buffers: list[Buffer]) -> Plan:
    """First-fit under several buffer orderings; keeps the lowest peak (ties: the first ordering listed)."""
    best: Plan | None = None
    for name, key in ORDERINGS.items():
        offs = _first_fit(sorted(buffers, key=key))
        peak = max((offs[b.id] + b.size for b in buffers), default=0)
        if best is None or peak < best.peak:
            best = Plan(offs, peak, name)
    assert best is not None
    steps = max((b.last for b in buffers), default=-1) + 1
    timeline = tuple(tuple(b.id for b in buffers if b.first <= s <= b.last) for s in range(steps))
    plan = Plan(best.offsets, best.peak, best.strategy, timeline)
    check_plan(buffers, plan)
    return plan


def check_plan(buffers: list[Buffer], plan: Plan) -> None:
    """Prove that no two buffers that are live at the same step share a byte, and that all fit the arena."""
    for b in buffers:
        o = plan.offsets[b.id]
        if o < 0 or o + b.size > plan.peak or o % b.align:
            raise TinymlError(f"internal planner error: buffer {b.id} at {o}+{b.size} outside arena {plan.peak}")
    for i, a in enumerate(buffers):
        oa = plan.offsets[a.id]
        for b in buffers[i + 1:]:
            if a.overlaps_in_time(b):
                ob = plan.offsets[b.id]
                if oa < ob + b.size and ob < oa + a.size:
                    raise TinymlError(f"internal planner error: buffers {a.id} and {b.id} are live together "
                                      f"(steps {a.first}-{a.last} and {b.first}-{b.last}) but overlap in memory")


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
