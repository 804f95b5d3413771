"""What each op costs, in one place: multiply-accumulates and constant bytes."""
from __future__ import annotations

from .ir import NO_TENSOR, Graph, Op, OpKind


def macs(g: Graph, op: Op) -> int:
    """Multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, SVDF and
    UNIDIRECTIONAL_SEQUENCE_LSTM (other ops count 0, as in MLPerf Tiny and baseline.json)."""
    if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:  # per batch and step: four gates of input + recurrent FCs
        x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
        return x.shape[0] * x.shape[1] * 4 * w.shape[0] * (x.shape[2] + w.shape[0])
    if op.kind is OpKind.SVDF:  # per batch: the feature matmul (filters x input) and the time one (filters x memory)
        x, wf, wt = (g.tensor(i) for i in op.inputs[:3])
        return x.shape[0] * wf.shape[0] * (wf.shape[1] + wt.shape[1])
    if op.kind is OpKind.TRANSPOSE_CONV:  # every input value meets k_h x k_w x out_c weights
        w = g.tensor(op.inputs[1])
        return g.tensor(op.inputs[0]).size * w.shape[0] * w.shape[1] * w.shape[2]
    if op.kind not in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED):
        return 0
    out = g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    if op.kind is OpKind.CONV_2D:
        return out.size * w.shape[1] * w.shape[2] * w.shape[3]
    if op.kind is OpKind.DEPTHWISE_CONV_2D:
        return out.size * w.shape[1] * w.shape[2]
    return out.size * w.shape[1]


def weight_bytes(g: Graph, op: Op) -> int:
    """Bytes of the constant inputs of `op` (weights, biases, shape constants)."""
    return sum(g.tensor(i).nbytes for i in op.inputs if i != NO_TENSOR and g.tensor(i).is_const)


def total_macs(g: Graph) -> int:
    return sum(macs(g, op) for op in g.ops)
