"""What each op costs, in one place: multiply-accumulates (each operator family's `MACS`) and constant bytes."""
from __future__ import annotations

from . import ops
from .ir import NO_TENSOR, Graph, Op

MACS = ops.gather("MACS")


def macs(g: Graph, op: Op) -> int:
    """Multiply-accumulates of `op` by its family (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED,
    SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM; other ops count 0, as in MLPerf Tiny and baseline.json)."""
    count = MACS.get(op.kind)
    return count(g, op) if count else 0


def weight_bytes(g: Graph, op: Op) -> int:
    """Bytes of the constant inputs of `op` (weights, biases, shape constants)."""
    return sum(g.tensor(i).nbytes for i in op.inputs if i != NO_TENSOR and g.tensor(i).is_const)


def total_macs(g: Graph) -> int:
    return sum(macs(g, op) for op in g.ops)
