"""The element-wise operators: ADD, SUB, MUL (and their float islands), ADD_N, MAXIMUM, MINIMUM, the
comparisons, SELECT_V2, CAST, the logical operators, PRELU, SQUARED_DIFFERENCE, DIV and the float unary ones:
their structural checks and lowerings (and ADD_N's parameters, NumPy semantics and kernel row)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import access
from .. import fixedpoint as fp
from ..fixedpoint import (
    quantize_multiplier,
)
from ..ir import (
    NO_TENSOR,
    Activation,
    DType,
    ElementwiseAttrs,
    Graph,
    Op,
    OpKind,
    Tensor,
)
from ..params import BinaryF32Params, BroadcastParams, CastParams, Kernel, KernelRow, SelectParams, UnaryF32Params
from .common import (
    QMAX,
    QMIN,
    Arr,
    FloatCall,
    activation_range,
    broadcast_operands,
    broadcast_shape,
    broadcast_strides,
    check_one_input,
    float_activation,
    require,
    sat8,
    torch_modules,
)
from .quantize import TYPE_RANGES

FLOAT_RANGES = {Activation.NONE: (-3.4028234663852886e38, 3.4028234663852886e38), Activation.RELU:
                (0.0, 3.4028234663852886e38), Activation.RELU6: (0.0, 6.0), Activation.RELU_N1_TO_1: (-1.0, 1.0)}


def _binary_f32(g: Graph, op: Op) -> list[Kernel]:
    """ADD, SUB, MUL of float32 operands in a float island (TFLM's float kernels: one IEEE single-precision
    operation per element, then the fused activation's min/max), 4-D broadcasting."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None and isinstance(op.attrs, ElementwiseAttrs)
    require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    lo, hi = FLOAT_RANGES[op.attrs.activation]
    p = BinaryF32Params(out4, broadcast_strides(a_t.shape, out4), broadcast_strides(b_t.shape, out4), lo, hi)
    return [Kernel(f"tml_{op.kind.value.lower()}_f32", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_binary(g: Graph, op: Op) -> list[Kernel]:
    ts = [g.tensor(i) for i in (*op.inputs[:2], op.outputs[0])]
    if all(t.dtype is DType.FLOAT32 for t in ts):
        return _binary_f32(g, op)
    a_t, b_t, y, common = broadcast_operands(g, op)
    assert isinstance(op.attrs, ElementwiseAttrs)
    lo, hi = activation_range(op.attrs.activation, y)
    common.update(act_min=lo, act_max=hi)
    if op.kind is OpKind.MUL:
        m, s = quantize_multiplier(a_t.scale * b_t.scale / y.scale)
        p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                            output_multiplier=m, output_shift=s, is_sub=0)
        func = "tml_mul_s16" if y.dtype is DType.INT16 else "tml_mul_s8"
        return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.outputs[0]))]
    wide = y.dtype is DType.INT16
    left_shift = 15 if wide else 20
    twice_max = 2 * max(a_t.scale, b_t.scale)
    am, ash = quantize_multiplier(a_t.scale / twice_max)
    bm, bsh = quantize_multiplier(b_t.scale / twice_max)
    om, osh = quantize_multiplier(twice_max / ((1 << left_shift) * y.scale))
    p = BroadcastParams(**common, left_shift=left_shift, a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh,
                        output_multiplier=om, output_shift=osh, is_sub=int(op.kind is OpKind.SUB))
    return [Kernel("tml_add_s16" if wide else "tml_add_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_max_min(g: Graph, op: Op) -> list[Kernel]:
    """MAXIMUM/MINIMUM: TFLM compares the stored int8 values (the converter gives operands and output one
    quantization), so no arithmetic on them."""
    _, _, y, common = broadcast_operands(g, op)
    wide = y.dtype is DType.INT16
    lo, hi = TYPE_RANGES[y.dtype]
    p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                        output_multiplier=0, output_shift=0, act_min=lo, act_max=hi, is_sub=0)
    func = ("tml_maximum" if op.kind is OpKind.MAXIMUM else "tml_minimum") + ("_s16" if wide else "_s8")
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_compare(g: Graph, op: Op) -> list[Kernel]:
    """EQUAL ... GREATER_EQUAL on int8 (TFLM's *WithScaling): each operand less its zero point, shifted left by
    8 and scaled by its own scale (QuantizeMultiplierSmallerThanOneExp), then compared; bool out. On float32
    operands (a float island: the converter compares DEQUANTIZEd values) the values are compared as they are."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None
    floats = a_t.dtype is DType.FLOAT32 and b_t.dtype is DType.FLOAT32
    require((floats or (a_t.dtype is DType.INT8 and b_t.dtype is DType.INT8 and a_t.quant is not None and
                         b_t.quant is not None)) and y.dtype is DType.BOOL,
            f"{op.kind.value} of {a_t.dtype.value} and {b_t.dtype.value} into {y.dtype.value} is not supported "
            "(quantized int8 operands, or float32 ones in a float island, into bool are)")
    require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    if floats:  # IEEE comparison of the values as they are
        p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(a_t.shape, out4),
                            broadcast_strides(b_t.shape, out4), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
        return [Kernel(f"tml_{op.kind.value.lower()}_f32", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]
    (am, ash), (bm, bsh) = (quantize_multiplier(float(t.scale)) for t in (a_t, b_t))
    require(ash <= 0 and bsh <= 0, f"{op.kind.value} needs operand scales below 1 (TFLM's kernel requires it)")
    p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(a_t.shape, out4),
                        broadcast_strides(b_t.shape, out4), -a_t.zero_point, -b_t.zero_point, 0, 8, am, ash, bm,
                        bsh, 0, 0, 0, 1, 0)
    return [Kernel(f"tml_{op.kind.value.lower()}_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


CAST_CODES = {DType.INT8: 0, DType.UINT8: 1, DType.INT16: 2, DType.INT32: 3, DType.FLOAT32: 4, DType.BOOL: 5}


def lower_cast(g: Graph, op: Op) -> list[Kernel]:
    """CAST on activations: TFLM's static_cast per element (integers wrap, to float32 rounds to nearest, to bool
    is != 0); float32 to an integer type is refused (undefined for out-of-range values, in TFLM's C++ too)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require(x.dtype in CAST_CODES and y.dtype in CAST_CODES and not (
        x.dtype is DType.FLOAT32 and y.dtype not in (DType.FLOAT32, DType.BOOL)),
        f"CAST from {x.dtype.value} to {y.dtype.value} is not supported (between int8, uint8, int16, int32, "
        "float32 and bool, except float32 to an integer type, whose out-of-range values C leaves undefined)")
    return [Kernel("tml_cast", CastParams(x.size, CAST_CODES[x.dtype], CAST_CODES[y.dtype]),
                   (op.inputs[0], op.outputs[0]))]


def lower_logical(g: Graph, op: Op) -> list[Kernel]:
    """LOGICAL_AND / LOGICAL_OR (bool, 4-D broadcasting) and LOGICAL_NOT."""
    ins = [g.tensor(i) for i in op.inputs]
    y = g.tensor(op.outputs[0])
    require(all(t.dtype is DType.BOOL for t in ins + [y]), f"{op.kind.value} takes bool tensors, got "
            f"{', '.join(t.dtype.value for t in ins)} -> {y.dtype.value}")
    if op.kind is OpKind.LOGICAL_NOT:
        return [Kernel("tml_logical_not", CastParams(y.size, 5, 5), (op.inputs[0], op.outputs[0]))]
    require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(ins[0].shape, out4),
                        broadcast_strides(ins[1].shape, out4), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
    return [Kernel(f"tml_{op.kind.value.lower()}", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_select(g: Graph, op: Op) -> list[Kernel]:
    """SELECT_V2: x where the condition holds, else y, with broadcasting; values are copied (TFLM does not
    requantize them either)."""
    c_t, x_t, y_t = g.op_inputs(op)[:3]
    out = g.tensor(op.outputs[0])
    assert c_t is not None and x_t is not None and y_t is not None
    require(c_t.dtype is DType.BOOL and x_t.dtype is out.dtype and y_t.dtype is out.dtype and
            out.dtype.bits % 8 == 0, f"SELECT_V2 with a {c_t.dtype.value} condition and {x_t.dtype.value}, "
            f"{y_t.dtype.value} operands into {out.dtype.value} is not supported (a bool condition and operands of "
            "the output's type are)")
    require(len(out.shape) <= 4, f"SELECT_V2 supports up to 4-D tensors, got {list(out.shape)}")
    out4 = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    p = SelectParams(out4, broadcast_strides(c_t.shape, out4), broadcast_strides(x_t.shape, out4),
                     broadcast_strides(y_t.shape, out4), out.dtype.bits // 8)
    return [Kernel("tml_select", p, (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))]


def lower_prelu(g: Graph, op: Op) -> list[Kernel]:
    """PRELU (TFLM CalculatePreluParams): x >= 0 -> x * (s_x / s_y); else x * alpha * (s_x * s_alpha / s_y),
    each through its own quantized multiplier. The a_* fields carry the first, the b_* fields the second."""
    x, alpha, y, common = broadcast_operands(g, op)
    require(alpha.quant is not None and len(alpha.quant.scale) == 1,
            f"PRELU needs a per-tensor quantized alpha, got {len(alpha.quant.scale) if alpha.quant else 0} scales")
    m1, s1 = quantize_multiplier(x.scale / y.scale)
    m2, s2 = quantize_multiplier(x.scale * alpha.scale / y.scale)
    p = BroadcastParams(**common, left_shift=0, a_multiplier=m1, a_shift=s1, b_multiplier=m2, b_shift=s2,
                        output_multiplier=0, output_shift=0, act_min=QMIN, act_max=QMAX, is_sub=0)
    return [Kernel("tml_prelu_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_squared_difference(g: Graph, op: Op) -> list[Kernel]:
    """TFLM squared_difference.cc (int8): both inputs scaled to twice the larger input scale with a left shift of
    7, the difference squared, and requantized with (2 * max scale)^2 / (2^14 * output scale)."""
    a_t, b_t, y, common = broadcast_operands(g, op)
    twice_max = 2.0 * max(a_t.scale, b_t.scale)
    m1, s1 = quantize_multiplier(a_t.scale / twice_max)
    m2, s2 = quantize_multiplier(b_t.scale / twice_max)
    mo, so = quantize_multiplier(twice_max * twice_max / float(np.float32((1 << 14) * np.float32(y.scale))))
    p = BroadcastParams(**common, left_shift=7, a_multiplier=m1, a_shift=s1, b_multiplier=m2, b_shift=s2,
                        output_multiplier=mo, output_shift=so, act_min=QMIN, act_max=QMAX, is_sub=0)
    return [Kernel("tml_squared_difference_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_div(g: Graph, op: Op) -> list[Kernel]:
    """DIV (TFLM div.cc, int8): a reciprocal of the divisor per element (GetReciprocal), the quotient with the
    numerator's headroom, then the multiplier s_1 / (s_2 * s_out) and the fused activation."""
    a_t, b_t, y, common = broadcast_operands(g, op)
    assert isinstance(op.attrs, ElementwiseAttrs)
    m, s = quantize_multiplier(a_t.scale / (b_t.scale * y.scale))
    require(s <= 23, f"DIV with the multiplier s1 / (s2 * s_out) = {a_t.scale / (b_t.scale * y.scale):.3g} is not "
            "supported (TFLM's arithmetic is undefined beyond 2^23)")
    lo, hi = activation_range(op.attrs.activation, y)
    p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                        output_multiplier=m, output_shift=s, act_min=lo, act_max=hi, is_sub=0)
    return [Kernel("tml_div_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_float_unary(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require(x.dtype is DType.FLOAT32 and y.dtype is DType.FLOAT32 and x.size == y.size,
            f"{op.kind.value} runs in float32 (as in TFLM), between a DEQUANTIZE and a QUANTIZE; got "
            f"{x.dtype.value} -> {y.dtype.value}")
    return [Kernel(f"tml_{op.kind.value.lower()}_f32", UnaryF32Params(x.size), (op.inputs[0], op.outputs[0]))]


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
ADD_N_INPUTS = 8  # the inputs tml_add_n_s8 takes (NULL after the last)


@dataclass(frozen=True)
class AddNParams:
    """ADD_N on int8 (TFLM's reference_ops::AddN, quantized; its Prepare() requires one quantization for every
    input): each input's value less the zero point, shifted left and rescaled to half (the common scale is twice
    the input scale), summed, requantized to the output."""
    C_STRUCT: ClassVar[str] = "tml_add_n_params"
    size: int            # elements of each input and of the output
    count: int           # inputs
    input_offset: int    # -(the inputs' zero point)
    input_multiplier: int
    input_shift: int
    left_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int


def lower_add_n(g: Graph, op: Op) -> list[Kernel]:
    """ADD_N of two to eight inputs of one shape: int8 of one quantization (TFLM's int8 ADD_N), or float32 in a
    float island (TensorFlow's converter leaves add_n there, between DEQUANTIZE and QUANTIZE: the IEEE sum in
    input order from 0, the same bits on every target)."""
    xs = [g.tensor(i) for i in op.inputs]
    y = g.tensor(op.outputs[0])
    require(2 <= len(xs) <= ADD_N_INPUTS, f"ADD_N of {len(xs)} inputs is not supported (2 to {ADD_N_INPUTS} are)")
    args = (*op.inputs, *(NO_TENSOR,) * (ADD_N_INPUTS - len(xs)), op.outputs[0])
    if all(t.dtype is DType.FLOAT32 for t in (*xs, y)):
        return [Kernel("tml_add_n_f32", AddNParams(y.size, len(xs), 0, 0, 0, 0, 0, 0, 0, 0, 0), args)]
    require(all(t.dtype is DType.INT8 and t.quant is not None for t in (*xs, y)),
            f"ADD_N of {', '.join(sorted({t.dtype.value for t in xs}))} into {y.dtype.value} is not supported "
            "(quantized int8 inputs and output are, and float32 ones in a float island)")
    require(all(t.scale == xs[0].scale and t.zero_point == xs[0].zero_point for t in xs),
            "ADD_N needs one quantization (scale and zero point) on every input, as TFLM's kernel requires")
    twice = 2 * xs[0].scale
    im, ish = quantize_multiplier(xs[0].scale / twice)
    om, osh = quantize_multiplier(twice / ((1 << 20) * y.scale))
    p = AddNParams(y.size, len(xs), -xs[0].zero_point, im, ish, 20, om, osh, y.zero_point, QMIN, QMAX)
    return [Kernel("tml_add_n_s8", p, args)]


def add_n(p: AddNParams, *inputs: np.ndarray | None) -> np.ndarray:
    """TFLM's quantized AddN: the sum starts from the rescaled input offset itself, then adds each input's
    rescaled value (x + offset), and is requantized to the output."""
    def scaled(v: object) -> np.ndarray:
        return fp.mbqm_lt_one(fp.wrap32(np.asarray(v, np.int64) << p.left_shift), p.input_multiplier,
                              p.input_shift)
    acc = scaled(p.input_offset) + sum(scaled(x.astype(np.int64) + p.input_offset) for x in inputs
                                       if x is not None)
    out = fp.mbqm_lt_one(acc, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


def add_n_f32(p: AddNParams, *inputs: np.ndarray | None) -> np.ndarray:
    """TFLM's float AddN: 0, then each input added in order, in float32."""
    acc = np.zeros(p.size, np.float32)
    for x in inputs:
        if x is not None:
            acc = acc + x.reshape(-1).astype(np.float32)
    return acc


def _check_add_n(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
                 fail) -> None:  # noqa: ANN001
    """ADD_N: at least two inputs, each of the output's shape."""
    if len(ins) < 2 or any(t is None or tuple(t.shape) != tuple(out.shape) for t in ins):
        fail(f"{where} needs two or more inputs of its output's shape {list(out.shape)}")


# one IEEE operation per value: on float32 inside a quantized graph too (a float island, see tinyml.compiler)
FLOAT_ISLAND = frozenset({OpKind.NEG, OpKind.SQUARE, OpKind.EQUAL, OpKind.NOT_EQUAL, OpKind.LESS, OpKind.LESS_EQUAL,
                          OpKind.GREATER, OpKind.GREATER_EQUAL, OpKind.ADD, OpKind.SUB, OpKind.MUL, OpKind.ADD_N,
                          OpKind.CAST, OpKind.FLOOR, OpKind.CEIL, OpKind.SQRT, OpKind.ROUND})


LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.ADD_N: lower_add_n,
    OpKind.ADD: lower_binary, OpKind.SUB: lower_binary, OpKind.MUL: lower_binary, OpKind.MAXIMUM: lower_max_min,
    OpKind.MINIMUM: lower_max_min, OpKind.PRELU: lower_prelu, OpKind.SQUARED_DIFFERENCE: lower_squared_difference,
    OpKind.NEG: lower_float_unary, OpKind.SQUARE: lower_float_unary, OpKind.FLOOR: lower_float_unary,
    OpKind.CEIL: lower_float_unary, OpKind.SQRT: lower_float_unary, OpKind.ROUND: lower_float_unary,
    OpKind.DIV: lower_div, OpKind.EQUAL: lower_compare, OpKind.NOT_EQUAL: lower_compare, OpKind.LESS: lower_compare,
    OpKind.LESS_EQUAL: lower_compare, OpKind.GREATER: lower_compare, OpKind.GREATER_EQUAL: lower_compare,
    OpKind.SELECT_V2: lower_select, OpKind.CAST: lower_cast, OpKind.LOGICAL_AND: lower_logical,
    OpKind.LOGICAL_OR: lower_logical, OpKind.LOGICAL_NOT: lower_logical,
}


def _check_select_v2(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SELECT_V2."""
    if len(ins) != 3 or any(t is None for t in ins):
        fail(f"{where} needs a condition and two operands")
    both = broadcast_shape(*(tuple(t.shape) for t in ins if t is not None))
    if both != tuple(out.shape):
        fail(f"{where}: {[list(t.shape) for t in ins if t is not None]} do not broadcast to {list(out.shape)}")


def _check_add(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU, SQUARED_DIFFERENCE, DIV, LOGICAL_AND, LOGICAL_OR."""
    if len(ins) < 2 or ins[1] is None:
        fail(f"{where} needs two inputs")
    y = ins[1]
    assert y is not None
    both = broadcast_shape(tuple(x.shape), tuple(y.shape))
    if both is None or math.prod(both) != out.size or len(both) > len(out.shape) and \
            tuple(both[-len(out.shape):]) != tuple(out.shape):
        fail(f"{where}: inputs {list(x.shape)} and {list(y.shape)} do not broadcast to the output "
             f"{list(out.shape)}")


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.ADD_N: _check_add_n,
    OpKind.SELECT_V2: _check_select_v2, OpKind.ADD: _check_add, OpKind.SUB: _check_add, OpKind.MUL: _check_add,
    OpKind.MAXIMUM: _check_add, OpKind.MINIMUM: _check_add, OpKind.PRELU: _check_add,
    OpKind.SQUARED_DIFFERENCE: _check_add, OpKind.DIV: _check_add, OpKind.LOGICAL_AND: _check_add,
    OpKind.LOGICAL_OR: _check_add, OpKind.NEG: check_one_input, OpKind.SQUARE: check_one_input,
    OpKind.CAST: check_one_input, OpKind.LOGICAL_NOT: check_one_input, OpKind.FLOOR: check_one_input,
    OpKind.CEIL: check_one_input, OpKind.SQRT: check_one_input, OpKind.ROUND: check_one_input,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def broadcast(p: BroadcastParams, a: Arr, b: Arr, dtype: type = np.int64) -> tuple[Arr, Arr]:
    shape = (p.d0, p.d1, p.d2, p.d3)
    a4 = np.broadcast_to(a.reshape([d if s else 1 for d, s in zip(shape, p.a_stride)]), shape)
    b4 = np.broadcast_to(b.reshape([d if s else 1 for d, s in zip(shape, p.b_stride)]), shape)
    return a4.astype(dtype), b4.astype(dtype)


def add(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    sa = fp.mbqm_lt_one(fp.wrap32((a4 + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    sb = fp.mbqm_lt_one(fp.wrap32((b4 + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    raw = fp.wrap32(sa - sb if p.is_sub else sa + sb)
    return sat8(fp.mbqm_lt_one(raw, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def mul(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    prod = fp.wrap32((a4 + p.a_offset) * (b4 + p.b_offset))
    return sat8(fp.mbqm(prod, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def maximum(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    return np.maximum(a4, b4)  # the caller casts to the output's type (int8 or int16)


def minimum(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a4, b4 = broadcast(p, a, b)
    return np.minimum(a4, b4)  # the caller casts to the output's type (int8 or int16)


def prelu(p: BroadcastParams, x: Arr, alpha: Arr) -> Arr:
    x4, a4 = broadcast(p, x, alpha)
    xv = x4 + p.a_offset
    pos = fp.mbqm(xv, p.a_multiplier, p.a_shift)
    neg = fp.mbqm(fp.wrap32(xv * (a4 + p.b_offset)), p.b_multiplier, p.b_shift)
    return sat8(np.where(xv >= 0, pos, neg) + p.output_offset, -128, 127)


def squared_difference(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a, b = broadcast(p, a, b)
    sa = fp.mbqm_lt_one(fp.wrap32((a + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    sb = fp.mbqm_lt_one(fp.wrap32((b + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    d = sa - sb
    return sat8(fp.mbqm(d * d, p.output_multiplier, p.output_shift) + p.output_offset, p.act_min, p.act_max)


def div(p: BroadcastParams, a: Arr, b: Arr) -> Arr:
    a, b = broadcast(p, a, b)
    x, d = a.astype(np.int64) + p.a_offset, b.astype(np.int64) + p.b_offset
    x, d = np.where(d < 0, -x, x), np.abs(d)
    inv, recip_shift = fp.reciprocal(d, 31)
    headroom = fp.clz32(np.where(x < 0, ~x, x)) - 1  # CountLeadingSignBits
    q = fp.mbqm_gt_one(x, inv, headroom)
    h = fp.srdhm(q, p.output_multiplier)
    e = recip_shift + headroom - p.output_shift  # >= 32: the oracle's shift count modulo 32 (see tml_div_s8.c)
    r = np.where(e < 32, fp.rdbp(h, np.minimum(e, 31)), (h >> (e & 31)) + (h >= 0))
    out = np.clip(p.output_offset + r, -128, 127)
    return sat8(out, p.act_min, p.act_max)


def compare(p: BroadcastParams, a: Arr, b: Arr, fn: Callable[[Arr, Arr], Arr]) -> Arr:
    """TFLM's *WithScaling comparisons: each operand less its zero point, shifted left, scaled by its own
    multiplier, then compared."""
    a4, b4 = broadcast(p, a, b)
    x = fp.mbqm_lt_one(fp.wrap32((a4 + p.a_offset) << p.left_shift), p.a_multiplier, p.a_shift)
    y = fp.mbqm_lt_one(fp.wrap32((b4 + p.b_offset) << p.left_shift), p.b_multiplier, p.b_shift)
    return fn(x, y)


def _strided(v: Arr, d: tuple[int, ...], strides: tuple[int, ...]) -> Arr:
    """`v` (flat) read as the 4-D shape `d` through element strides (0: broadcast)."""
    idx = sum(np.arange(n).reshape([-1 if k == j else 1 for k in range(4)]) * s
              for j, (n, s) in enumerate(zip(d, strides)))
    return v.reshape(-1)[idx]


def compare_f32(fn: Callable[[Arr, Arr], Arr]) -> Callable[..., Arr]:
    """A float32 comparison (IEEE, values as they are) over BroadcastParams' broadcasting."""
    return lambda p, a, b: fn(*broadcast(p, a, b, np.float32))


def compare_s8(fn: Callable[[Arr, Arr], Arr]) -> Callable[..., Arr]:
    return lambda p, a, b: compare(p, a, b, fn)


COMPARISONS = (("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
                ("less_equal", np.less_equal), ("greater", np.greater), ("greater_equal", np.greater_equal))


def binary_f32(p: BinaryF32Params, a: Arr, b: Arr, fn: Callable[[Arr, Arr], Arr]) -> Arr:
    """One IEEE single-precision operation per element (NumPy float32 arithmetic), clamped as TFLM's
    ActivationFunctionWithMinMax (a NaN stays NaN)."""
    v = fn(_strided(a.astype(np.float32), p.d, p.a_stride), _strided(b.astype(np.float32), p.d, p.b_stride))
    lo, hi = np.float32(p.act_min), np.float32(p.act_max)
    return np.where(v < lo, lo, np.where(v > hi, hi, v)).astype(np.float32)


_CAST_TYPES = (np.int8, np.uint8, np.int16, np.int32, np.float32, np.bool_)


def cast(p: CastParams, x: Arr) -> Arr:
    """C's conversions: integers wrap to a narrower integer type, to float32 round to nearest, to bool != 0."""
    if p.out_code == 5:
        return x != 0
    v = x.astype(np.int64) if p.in_code != 4 else x
    return v.astype(_CAST_TYPES[p.out_code])


def select(p: SelectParams, c: Arr, x: Arr, y: Arr) -> Arr:
    return np.where(_strided(c, p.d, p.c_stride).astype(bool), _strided(x, p.d, p.x_stride),
                    _strided(y, p.d, p.y_stride))


def _unary_f32(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> KernelRow:
    return KernelRow(f"tml_{name}_f32", ("tml_unary_f32.c",), lambda p, x: fn(x.astype(np.float32)),
                     gap=access.in_order)


def _float_binary(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, a, b: binary_f32(p, a, b, fn)


def _logical(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, a, b: fn(*(v != 0 for v in broadcast(p, a, b)))


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_add_n_s8", ("tml_add_n.c",), add_n),
    KernelRow("tml_add_n_f32", ("tml_add_n.c",), add_n_f32),
    KernelRow("tml_add_s8", ("tml_add_s8.c",), add, gap=access.broadcast),
    KernelRow("tml_add_s16", ("tml_add_s8.c",), add, gap=access.broadcast),
    KernelRow("tml_mul_s8", ("tml_mul_s8.c",), mul, gap=access.broadcast),
    KernelRow("tml_mul_s16", ("tml_mul_s8.c",), mul, gap=access.broadcast),
    KernelRow("tml_div_s8", ("tml_div_s8.c", "tml_fixedpoint.c"), div, gap=access.broadcast),
    KernelRow("tml_squared_difference_s8", ("tml_squared_difference_s8.c",), squared_difference,
              gap=access.broadcast),
    KernelRow("tml_maximum_s8", ("tml_max_min_s8.c",), maximum, gap=access.broadcast),
    KernelRow("tml_minimum_s8", ("tml_max_min_s8.c",), minimum, gap=access.broadcast),
    KernelRow("tml_maximum_s16", ("tml_max_min_s8.c",), maximum, gap=access.broadcast),
    KernelRow("tml_minimum_s16", ("tml_max_min_s8.c",), minimum, gap=access.broadcast),
    KernelRow("tml_prelu_s8", ("tml_prelu_s8.c",), prelu, gap=access.broadcast),
    *(KernelRow(f"tml_{n}_s8", ("tml_compare_s8.c",), compare_s8(fn), gap=access.broadcast)
      for n, fn in COMPARISONS),
    *(KernelRow(f"tml_{n}_f32", ("tml_compare_s8.c",), compare_f32(fn), gap=access.broadcast)
      for n, fn in COMPARISONS),
    KernelRow("tml_select", ("tml_select.c",), select),
    KernelRow("tml_logical_and", ("tml_cast.c",), _logical(np.logical_and), gap=access.broadcast),
    KernelRow("tml_logical_or", ("tml_cast.c",), _logical(np.logical_or), gap=access.broadcast),
    KernelRow("tml_logical_not", ("tml_cast.c",), lambda p, x: x.astype(bool) == 0),
    KernelRow("tml_cast", ("tml_cast.c",), cast),
    _unary_f32("neg", np.negative),
    _unary_f32("square", np.square),
    _unary_f32("floor", np.floor),
    _unary_f32("ceil", np.ceil),
    _unary_f32("sqrt", np.sqrt),
    _unary_f32("round", np.rint),  # half to even, as TFLM's RoundToNearest
    KernelRow("tml_add_f32", ("tml_unary_f32.c",), _float_binary(np.add)),
    KernelRow("tml_sub_f32", ("tml_unary_f32.c",), _float_binary(np.subtract)),
    KernelRow("tml_mul_f32", ("tml_unary_f32.c",), _float_binary(np.multiply)),
]}


def _binary_float(c: FloatCall) -> Any:
    """ADD, SUB, MUL (with their fused activation), MAXIMUM, MINIMUM; a constant operand fake-quantized."""
    torch, _ = torch_modules()
    kind, x = c.op.kind, c.x
    y = c.operand(c.op.inputs[1])
    if kind is OpKind.MAXIMUM:
        return torch.maximum(x, y)
    if kind is OpKind.MINIMUM:
        return torch.minimum(x, y)
    out = x + y if kind is OpKind.ADD else x - y if kind is OpKind.SUB else x * y
    return float_activation(out, c.op.attrs.activation)


# float execution on the PyTorch path
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {
    **dict.fromkeys((OpKind.ADD, OpKind.SUB, OpKind.MUL, OpKind.MAXIMUM, OpKind.MINIMUM), _binary_float),
    OpKind.SQUARED_DIFFERENCE: lambda c: (c.x - c.get(c.op.inputs[1])) ** 2,
}
