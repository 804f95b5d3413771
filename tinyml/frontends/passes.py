"""Graph rewrites shared by the float front ends."""
from __future__ import annotations

import dataclasses

from ..ir import Activation, ConvAttrs, ElementwiseAttrs, FullyConnectedAttrs, Graph, GraphBuilder, Op, OpKind

_FUSABLE = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.ADD, OpKind.SUB)
_ACTS = {OpKind.RELU: Activation.RELU, OpKind.RELU6: Activation.RELU6}


def fuse_activations(g: Graph) -> Graph:
    """Fold a RELU/RELU6 into the convolution, fully-connected layer or add/sub that alone feeds it (TFLite's
    fused activation): one op less and one tensor less to quantize and to keep in RAM."""
    consumers = g.consumers()
    producer = {o: k for k, op in enumerate(g.ops) for o in op.outputs}
    ops = list(g.ops)
    drop: set[int] = set()
    rename: dict[int, int] = {}
    for k, op in enumerate(g.ops):
        if op.kind not in _ACTS:
            continue
        src = op.inputs[0]
        p = producer.get(src)
        if p is None or p in drop or len(consumers.get(src, [])) != 1 or src in g.outputs:
            continue
        prod = ops[p]
        if prod.kind not in _FUSABLE or not isinstance(prod.attrs, (ConvAttrs, FullyConnectedAttrs,
                                                                    ElementwiseAttrs)):
            continue
        if prod.attrs.activation is not Activation.NONE:
            continue
        ops[p] = Op(prod.kind, prod.inputs, op.outputs, dataclasses.replace(prod.attrs, activation=_ACTS[op.kind]),
                    prod.name)
        drop.add(k)
        rename[src] = op.outputs[0]
    kept = tuple(o for k, o in enumerate(ops) if k not in drop)
    b = GraphBuilder()
    b.tensors = list(g.tensors)
    b.ops = list(kept)
    return b.build(g.name, g.inputs, g.outputs, g.source)
