"""Execution order of independent branches, chosen to lower the peak.

A TFLite file lists its operators in one valid topological order, often interleaving branches so that several
large tensors are alive at once. `reorder` runs a memory-aware list scheduler (among the ops whose inputs are
ready, run the one that leaves the fewest bytes live; ties: the file's order) and keeps the new order only when
its largest live-bytes step is strictly lower than the file's. Chains (most CNNs) have a single order and are
returned unchanged.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir import NO_TENSOR, Graph


def max_live_bytes(g: Graph, order: list[int]) -> int:
    """The largest sum of live activation bytes over the steps of `order` (aliases counted as copies)."""
    consumers = g.consumers()
    pos = {k: s for s, k in enumerate(order)}
    last: dict[int, int] = {t: len(order) for t in g.outputs}
    for t in g.inputs:
        last.setdefault(t, 0)
    for t, users in consumers.items():
        if not g.tensor(t).is_const:
            last[t] = max(last.get(t, 0), *(pos[u] for u in users))
    first = {t: 0 for t in g.inputs}
    for k in order:
        for t in g.ops[k].outputs:
            first[t] = pos[k]
    best = 0
    for s in range(len(order)):
        best = max(best, sum(g.tensor(t).nbytes for t in first if first[t] <= s <= last.get(t, first[t])))
    return best


def schedule(g: Graph) -> list[int]:
    """Memory-aware topological order of g.ops (indices into g.ops)."""
    consumers = g.consumers()
    producer = {t: k for k, op in enumerate(g.ops) for t in op.outputs}
    remaining = {t: len(set(us)) for t, us in consumers.items()}
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(g.ops):
        ready = [k for k in range(len(g.ops)) if k not in done
                 and all(i == NO_TENSOR or producer.get(i) is None or producer[i] in done for i in g.ops[k].inputs)]

        def delta(k: int) -> int:
            op = g.ops[k]
            alloc = sum(g.tensor(t).nbytes for t in op.outputs)
            freed = sum(g.tensor(t).nbytes for t in set(g.activation_inputs(op))
                        if remaining.get(t) == 1 and t not in g.outputs)
            return alloc - freed
        k = min(ready, key=lambda j: (delta(j), j))
        done.add(k)
        order.append(k)
        for t in set(i for i in g.ops[k].inputs if i != NO_TENSOR):
            remaining[t] = remaining.get(t, 1) - 1
    return order


def reorder(g: Graph) -> Graph:
    """`g` with its ops in the memory-aware order when that lowers the live-bytes peak, else `g` itself."""
    order = schedule(g)
    if order == list(range(len(g.ops))):
        return g
    if max_live_bytes(g, order) >= max_live_bytes(g, list(range(len(g.ops)))):
        return g
    return replace(g, ops=tuple(g.ops[k] for k in order))
