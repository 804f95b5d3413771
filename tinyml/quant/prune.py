"""Structured channel pruning of a float IR graph.

A CONV_2D's output channels can be removed when every path from its output reaches, through per-channel ops
only (activations, pooling, PAD, MEAN over H and W, depthwise convolutions with multiplier 1, flattening
RESHAPE), exactly one CONV_2D or FULLY_CONNECTED that mixes channels: the removed channels disappear from the
weights and bias of the producer, from the depthwise layers on the way and from the consumer's input weights.
Channels are ranked by the L1 norm of their filters (Li et al. 2017); residual additions and concatenations
end a chain, so their channels are left alone.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..ir import Graph, GraphBuilder, OpKind

PER_CHANNEL = (OpKind.RELU, OpKind.RELU6, OpKind.HARD_SWISH, OpKind.LOGISTIC, OpKind.TANH, OpKind.LEAKY_RELU,
               OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D, OpKind.PAD, OpKind.MEAN, OpKind.DEPTHWISE_CONV_2D)


@dataclasses.dataclass
class Chain:
    producer: int
    passthrough: list[int]     # per-channel ops, in order
    consumer: int
    flatten: int | None = None  # the RESHAPE op between the chain and a FULLY_CONNECTED consumer


def prunable_chains(g: Graph) -> list[Chain]:
    consumers = g.consumers()
    chains = []
    for k, op in enumerate(g.ops):
        if op.kind is not OpKind.CONV_2D or g.tensor(op.inputs[1]).shape[3] != g.tensor(op.inputs[0]).shape[3]:
            continue  # grouped convolutions keep their channels
        t, path, flatten = op.outputs[0], [], None
        while True:
            users = consumers.get(t, [])
            if len(users) != 1 or t in g.outputs:
                break
            u = g.ops[users[0]]
            if u.inputs[0] != t:
                break
            if u.kind in PER_CHANNEL:
                if u.kind is OpKind.DEPTHWISE_CONV_2D and u.attrs.depth_multiplier != 1:
                    break
                path.append(users[0])
                t = u.outputs[0]
                continue
            if u.kind is OpKind.RESHAPE and flatten is None and len(g.tensor(u.outputs[0]).shape) == 2:
                flatten = users[0]
                t = u.outputs[0]
                continue
            if u.kind is OpKind.CONV_2D and g.tensor(u.inputs[1]).shape[3] == g.tensor(t).shape[-1] \
                    and flatten is None:
                chains.append(Chain(k, path, users[0]))
            elif u.kind is OpKind.FULLY_CONNECTED:
                chains.append(Chain(k, path, users[0], flatten))
            break
    return chains


def prune(g: Graph, ratio: float | Mapping[int, float]) -> Graph:
    """`g` with round(ratio * channels) output channels removed from every prunable convolution (at least one
    channel is always kept); `ratio` a mapping: each convolution's own, by its op index (prunable_chains'
    producers; those not named keep their channels)."""
    ratios = ratio if isinstance(ratio, Mapping) else None
    if ratios is None and ratio <= 0 or ratios is not None and not any(r > 0 for r in ratios.values()):
        return g
    b = GraphBuilder()
    b.tensors = list(g.tensors)
    b.ops = list(g.ops)

    def cur(i: int):  # noqa: ANN202  (the tensor as pruned so far: chains can share a convolution)
        return b.tensors[i]

    def set_data(i: int, data: np.ndarray) -> None:
        b.tensors[i] = dataclasses.replace(b.tensors[i], shape=tuple(data.shape), data=data)

    def set_channels(i: int, keep: np.ndarray) -> None:
        t = b.tensors[i]
        b.tensors[i] = dataclasses.replace(t, shape=t.shape[:-1] + (len(keep),))

    for ch in prunable_chains(g):
        op = g.ops[ch.producer]
        w = np.asarray(cur(op.inputs[1]).data)
        n = w.shape[0]
        r = ratios.get(ch.producer, 0.0) if ratios is not None else ratio
        keep_n = max(1, n - int(round(r * n)))  # type: ignore[operator]
        if keep_n == n:
            continue
        keep = np.sort(np.argsort(-np.abs(w).reshape(n, -1).sum(1), kind="stable")[:keep_n])
        set_data(op.inputs[1], w[keep])
        if len(op.inputs) > 2:
            set_data(op.inputs[2], np.asarray(cur(op.inputs[2]).data)[keep])
        set_channels(op.outputs[0], keep)
        for p in ch.passthrough:
            u = g.ops[p]
            if u.kind is OpKind.DEPTHWISE_CONV_2D:
                set_data(u.inputs[1], np.asarray(cur(u.inputs[1]).data)[..., keep])
                set_data(u.inputs[2], np.asarray(cur(u.inputs[2]).data)[keep])
            set_channels(u.outputs[0], keep)
        cons = g.ops[ch.consumer]
        cw = np.asarray(cur(cons.inputs[1]).data)
        if cons.kind is OpKind.CONV_2D:
            set_data(cons.inputs[1], cw[..., keep])
        else:
            src = g.tensor(g.ops[ch.flatten].inputs[0]) if ch.flatten is not None else None
            if src is not None and len(src.shape) == 4:  # flattened H, W, C
                h, wd = src.shape[1], src.shape[2]
                cols = (np.arange(h * wd)[:, None] * n + keep[None, :]).reshape(-1)
            else:
                cols = keep
            set_data(cons.inputs[1], cw[:, cols])
            if ch.flatten is not None:
                r = g.ops[ch.flatten]
                new_len = len(cols)
                set_data(r.inputs[1], np.array([g.tensor(r.outputs[0]).shape[0], new_len], np.int32))
                b.tensors[r.outputs[0]] = dataclasses.replace(b.tensors[r.outputs[0]],
                                                              shape=(g.tensor(r.outputs[0]).shape[0], new_len))
    return b.build(g.name, g.inputs, g.outputs, g.source)


def removed_fraction(g: Graph, ratios: Mapping[int, float]) -> float:
    """The fraction of the prunable convolutions' output channels that prune(g, ratios) removes."""
    total = removed = 0
    for ch in prunable_chains(g):
        n = g.tensor(g.ops[ch.producer].inputs[1]).shape[0]
        total += n
        removed += n - max(1, n - int(round(ratios.get(ch.producer, 0.0) * n)))
    return removed / total if total else 0.0
