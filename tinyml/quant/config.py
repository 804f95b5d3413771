"""What post-training quantization and its fake-quantized executor share: which operators keep or fix their
output quantization, which carry weights, and the per-tensor configuration (`QuantConfig`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph, OpKind

SAME_AS_INPUT = (OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D, OpKind.RESHAPE, OpKind.PAD, OpKind.RELU6,
                 OpKind.STRIDED_SLICE, OpKind.RESIZE_NEAREST_NEIGHBOR, OpKind.RESIZE_BILINEAR,
                 OpKind.DEPTH_TO_SPACE, OpKind.SPACE_TO_DEPTH, OpKind.GATHER, OpKind.TRANSPOSE)
FIXED_OUTPUT = {OpKind.SOFTMAX: (1.0 / 256, -128), OpKind.LOGISTIC: (1.0 / 256, -128), OpKind.TANH: (1.0 / 128, 0)}
WEIGHTED = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.TRANSPOSE_CONV)
INT8_ONLY = (OpKind.TRANSPOSE_CONV,)  # weights TFLM (and tinyml) run as int8 only
SHARED_INPUTS = (OpKind.CONCATENATION, OpKind.MAXIMUM, OpKind.MINIMUM)  # inputs quantized as the output

@dataclass
class QuantConfig:
    act: dict[int, tuple[float, int]] = field(default_factory=dict)     # tensor -> (scale, zero point)
    weight_bits: dict[int, int] = field(default_factory=dict)           # op -> 8 or 4
    weight_scale: dict[int, np.ndarray] = field(default_factory=dict)   # op -> per-channel scales
    bias: dict[int, np.ndarray] = field(default_factory=dict)           # op -> float bias (after correction)
    wide: set[int] = field(default_factory=set)                         # ops computed in 16x8 (int16 activations)

    def act16(self, g: Graph) -> dict[int, tuple[float, int]]:
        """(scale, 0) of every tensor a 16x8 op produces: symmetric over the tensor's calibrated range (TFLM's 16x8
        kernels need zero point 0), TFLM's fixed 1/32768 for SOFTMAX/LOGISTIC/TANH, the input's for the ops
        that keep it (pooling, reshape, pad); and of a graph input that only 16x8 ops read (an int16 model input,
        as TensorFlow's 16x8 converter makes it)."""
        out: dict[int, tuple[float, int]] = {}
        readers = g.consumers()
        for i in g.inputs:
            if i in self.act and readers.get(i) and all(k in self.wide for k in readers[i]):
                out[i] = range16(*self.act[i])
        for k, op in enumerate(g.ops):
            if k not in self.wide:
                continue
            o = op.outputs[0]
            if op.kind in FIXED_OUTPUT:
                out[o] = (1.0 / 32768, 0)
            elif op.kind in SAME_AS_INPUT and op.inputs[0] in out:
                out[o] = out[op.inputs[0]]
            else:
                out[o] = range16(*self.act[o])
        return out


def range16(scale: float, zp: int) -> tuple[float, int]:
    """Symmetric int16 parameters covering the real range of int8 parameters (scale, zp)."""
    m = max(abs((-128 - zp) * scale), abs((127 - zp) * scale), 1e-8)
    return float(np.float32(m / 32767)), 0
