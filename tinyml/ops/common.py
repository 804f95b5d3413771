"""What the lowerings of several operator families share: type checks that refuse with one readable message,
activation ranges, padding arithmetic, per-channel multipliers and broadcasting operands; and what their kernels'
NumPy semantics share (saturation)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import TinymlError, UnsupportedOpError
from ..fixedpoint import (
    quantize_multiplier,
    tflite_round,
)
from ..ir import (
    Activation,
    AxisAttrs,
    DType,
    Graph,
    Op,
    OpKind,
    Padding,
    SoftmaxAttrs,
    Tensor,
)

QMIN, QMAX = -128, 127

Arr = np.ndarray


def sat8(v: Arr, lo: int = -128, hi: int = 127) -> Arr:
    """Clamp to [lo, hi] (an int8 range, or an int16 one for the 16x8 kernels: the caller casts to the output's
    type)."""
    return np.clip(v, lo, hi).astype(np.int8 if -128 <= lo and hi <= 127 else np.int16)


# operators with 16x8 kernels (int16 activations, int8 weights); RESHAPE and CONCATENATION move any type
WIDE_OPS = frozenset({OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.ADD, OpKind.SUB,
                      OpKind.MUL, OpKind.AVERAGE_POOL_2D, OpKind.MAX_POOL_2D, OpKind.MEAN, OpKind.SOFTMAX, OpKind.PAD,
                      OpKind.LOGISTIC, OpKind.TANH, OpKind.RELU, OpKind.RELU6, OpKind.LEAKY_RELU, OpKind.MAXIMUM,
                      OpKind.MINIMUM})


def activation_range(act: Activation, t: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: real bounds quantized with float32 division and std::round."""
    scale, zp = t.quant.scalar() if t.quant else (1.0, 0)
    qmin, qmax = (-32768, 32767) if t.dtype is DType.INT16 else (QMIN, QMAX)

    def q(f: float) -> int:
        return zp + tflite_round(float(np.float32(f) / np.float32(scale)))
    if act is Activation.NONE:
        return qmin, qmax
    if act is Activation.RELU:
        return max(qmin, q(0.0)), qmax
    if act is Activation.RELU6:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    return max(qmin, q(-1.0)), min(qmax, q(1.0))


def same_total(in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    """The SAME padding of a dimension, before and after together."""
    return max(0, (out_size - 1) * stride + (k - 1) * dil + 1 - in_size)


def same_padding(padding: Padding, in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    if padding is Padding.VALID:
        return 0
    return same_total(in_size, k, stride, dil, out_size) // 2


def out_size(padding: Padding, in_size: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (in_size + stride - 1) // stride if padding is Padding.SAME else (in_size + stride - eff) // stride


def nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise UnsupportedOpError(f"expected a 4-D NHWC tensor, got shape {list(shape)}")
    return shape  # type: ignore[return-value]


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise UnsupportedOpError(msg)


def require_same_quant(op: Op, x: Tensor, y: Tensor) -> None:
    require(x.dtype is y.dtype, f"{op.kind.value} needs the same type on input and output, got {x.dtype.value} "
            f"and {y.dtype.value}")
    if x.quant is not None and y.quant is not None:
        require(x.scale == y.scale and x.zero_point == y.zero_point,
                f"{op.kind.value} needs the same quantization on input and output (as TFLM requires)")


def wsuffix(w: Tensor) -> str:
    """Kernel name suffix for the weight width: s8, or s4 for packed int4 weights."""
    return "s4" if w.dtype is DType.INT4 else "s8"


def require_int8(*ts: Tensor | None) -> None:
    for t in ts:
        if t is not None and t.dtype is DType.INT16 and t.quant is not None:
            raise UnsupportedOpError(f"tensor '{t.name}' is int16 (16x8 quantization), and this combination of "
                                     "types is not supported: tinyml's int16 kernels take int16 on every activation "
                                     f"input and output of {', '.join(sorted(k.value for k in WIDE_OPS))} (SOFTMAX "
                                     "also int8 -> int16, QUANTIZE every pair TFLM's kernel takes)")
        if t is not None and (t.dtype is not DType.INT8 or t.quant is None):
            raise UnsupportedOpError(f"tensor '{t.name}' is {t.dtype.value}"
                                     f"{'' if t.quant else ' without quantization'}; this op needs quantized int8")


def act_type(op: Op, *ts: Tensor) -> str:
    """'s16' when every tensor is int16 with zero point 0 (16x8 quantization, as TFLM requires), else the int8
    check: 's8'."""
    if all(t.dtype is DType.INT16 for t in ts):
        for t in ts:
            require(t.quant is not None and all(z == 0 for z in t.quant.zero_point),
                    f"int16 tensor '{t.name}' of {op.kind.value} needs a zero point of 0 (as TFLM requires)")
        require(op.kind in WIDE_OPS, f"{op.kind.value} does not support int16 activations yet (16x8 covers "
                f"{', '.join(sorted(k.value for k in WIDE_OPS))})")
        return "s16"
    require_int8(*ts)
    return "s8"


def per_channel_multipliers(in_t: Tensor, w: Tensor, out_t: Tensor, channels: int) -> tuple[tuple[int, ...],
                                                                                         tuple[int, ...]]:
    assert w.quant is not None
    scales = w.quant.scale if len(w.quant.scale) > 1 else w.quant.scale * channels
    if len(scales) != channels:
        raise TinymlError(f"weights '{w.name}' carry {len(scales)} scales for {channels} output channels")
    ms = [quantize_multiplier(in_t.scale * s / out_t.scale) for s in scales]
    return tuple(m for m, _ in ms), tuple(s for _, s in ms)


def broadcast_strides(shape: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of `shape` read as `out` (both right-aligned to 4-D), 0 where broadcast."""
    s4 = (1,) * (4 - len(shape)) + tuple(shape)
    strides, acc = [0] * 4, 1
    for d in range(3, -1, -1):
        strides[d] = acc if s4[d] != 1 else 0
        acc *= s4[d]
    return tuple(strides)


def broadcast_operands(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """The two int8 (or 16x8 int16) operands and the output of an element-wise op, and the BroadcastParams fields
    they fix."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None
    act_type(op, a_t, b_t, y)
    require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    for t in (a_t, b_t):
        t4 = (1,) * (4 - len(t.shape)) + tuple(t.shape)
        require(len(t.shape) <= 4 and all(d in (1, o) for d, o in zip(t4, out4)),
                f"{op.kind.value} cannot broadcast {list(t.shape)} to {list(y.shape)}")
    common = dict(d0=out4[0], d1=out4[1], d2=out4[2], d3=out4[3], a_stride=broadcast_strides(a_t.shape, out4),
                  b_stride=broadcast_strides(b_t.shape, out4), a_offset=-a_t.zero_point, b_offset=-b_t.zero_point,
                  output_offset=y.zero_point)
    return a_t, b_t, y, common


# the value range of each integer type (a zero point outside it is a corrupt file)
RANGES = {DType.INT4: (-8, 7), DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
          DType.INT32: (-(1 << 31), (1 << 31) - 1), DType.INT64: (-(1 << 63), (1 << 63) - 1)}

# The structural checks (tinyml.validate runs them before anything else looks at an operator): each takes
# (graph, op index, op, "operator K (KIND)", its input tensors (None where absent), the first input, the output,
# the op's attributes, fail) and calls fail(message) on what the generated C could not rely on.


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape `shapes` broadcast to (NumPy's rules, as TFLite's), or None where they do not broadcast."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def check_axis(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """ARG_MAX, ARG_MIN, GATHER."""
    assert isinstance(a, AxisAttrs)
    if not 0 <= a.axis < len(x.shape):
        fail(f"{where} has axis {a.axis} for a {len(x.shape)}-D input")
    idx = ins[1] if len(ins) > 1 else None
    mid = (() if op.kind is not OpKind.GATHER else tuple(idx.shape) if idx is not None else None)
    if mid is None or tuple(out.shape) != tuple(x.shape[:a.axis]) + mid + tuple(x.shape[a.axis + 1:]):
        fail(f"{where}: input {list(x.shape)} along axis {a.axis} does not give {list(out.shape)}")


def check_one_input(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """The one-input element-wise operators (activations, (de)quantization, float unary ones): LOGISTIC, TANH,
    HARD_SWISH, LEAKY_RELU, RELU, RELU6, QUANTIZE, DEQUANTIZE, SOFTMAX, ABS, RSQRT, NEG, SQUARE, L2_NORMALIZATION,
    ELU, CAST, LOGICAL_NOT, LOG_SOFTMAX, FLOOR, CEIL, SQRT, ROUND."""
    if isinstance(a, SoftmaxAttrs) and not math.isfinite(a.beta):
        fail(f"{where} has beta {a.beta}")
    if x.size != out.size:
        fail(f"{where}: input {list(x.shape)} and output {list(out.shape)} differ in size")


def check_bias(g: Graph, where: str, ins: list, channels: int, fail) -> None:  # noqa: ANN001
    if len(ins) > 2 and ins[2] is not None and ins[2].size != channels:
        fail(f"{where}: bias '{ins[2].name}' has {ins[2].size} values for {channels} output channels")


def check_geometry(where: str, xs: tuple, os: tuple, k: tuple, a, fail, transposed: bool = False) -> None:  # noqa: ANN001
    """The output's height and width are the ones TFLite's converter derives from the padding mode (for
    TRANSPOSE_CONV, called with the shapes swapped: its input is what a convolution of its output gives)."""
    dil = (getattr(a, "dilation_h", 1), getattr(a, "dilation_w", 1))
    for d, name in ((0, "height"), (1, "width")):
        n, kk, s = xs[1 + d], (k[d] - 1) * dil[d] + 1, (a.stride_h, a.stride_w)[d]
        want = (n + s - 1) // s if a.padding is Padding.SAME else (n - kk + s) // s
        if want < 1 or os[1 + d] != want:
            if transposed:
                fail(f"{where}: input {name} {os[1 + d]} does not follow from output {name} {n}, filter {k[d]}, "
                     f"stride {s} and {a.padding.value} padding (expected {max(want, 0)})")
            fail(f"{where}: output {name} {os[1 + d]} does not follow from input {name} {n}, filter {k[d]}, stride "
                 f"{s} and {a.padding.value} padding (expected {max(want, 0)})")


# ---- float execution on the PyTorch path (tinyml.quant.executor runs each family's `FLOAT`; torch is imported only
# when it runs, the core needs none)

@dataclass(frozen=True)
class FloatCall:
    """One operator's float execution on NHWC torch tensors of any batch size: the op, its first input `x`, its
    output's shape without the batch, `get(t)` (the value of tensor t), `fq(t, v)` (v as the quantized model
    stores tensor t: fake-quantized, or v itself in a float run), `is_const(t)` and the graph."""
    op: Op
    x: Any
    out_shape: tuple[int, ...]
    get: Callable[[int], Any]
    fq: Callable[[int, Any], Any]
    is_const: Callable[[int], bool]
    g: Graph

    def operand(self, t: int) -> Any:
        """Input tensor t's value, fake-quantized where it is a constant (as the integer model holds it)."""
        v = self.get(t)
        return self.fq(t, v) if self.is_const(t) else v


def torch_modules() -> tuple[Any, Any]:
    """(torch, torch.nn.functional), imported when a float execution runs."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    return torch, F


def same_pads(size: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    """SAME padding before and after a dimension of `size` (TFLite's, the odd one after)."""
    total = same_total(size, k, stride, dil, out_size(Padding.SAME, size, k, stride, dil))
    return total // 2, total - total // 2


def float_activation(x: Any, act: Activation) -> Any:
    """A fused activation on float values."""
    torch, F = torch_modules()
    if act is Activation.RELU:
        return F.relu(x)
    if act is Activation.RELU6:
        return torch.clamp(x, 0.0, 6.0)
    if act is Activation.RELU_N1_TO_1:
        return torch.clamp(x, -1.0, 1.0)
    return x
