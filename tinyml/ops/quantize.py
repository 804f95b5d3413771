"""Lowering of QUANTIZE and DEQUANTIZE: every input/output type pair TFLM's kernels take."""
from __future__ import annotations

from collections.abc import Callable

from ..fixedpoint import (
    quantize_multiplier,
)
from ..ir import (
    DType,
    Graph,
    Op,
    OpKind,
)
from ..params import DequantizeParams, Kernel, QuantizeParams, RequantizeParams
from .common import QMAX, QMIN, check_one_input, require

# QUANTIZE between integer types: TFLM's Requantize for the pairs its kernel takes (input, output) -> function
REQUANTIZE_FUNCS = {
    (DType.INT8, DType.INT8): "tml_requantize_s8", (DType.INT8, DType.INT16): "tml_requantize_s8_s16",
    (DType.INT16, DType.INT8): "tml_requantize_s16_s8", (DType.INT16, DType.INT16): "tml_requantize_s16",
    (DType.UINT8, DType.INT8): "tml_requantize_u8_s8", (DType.INT8, DType.UINT8): "tml_requantize_s8_u8",
    (DType.INT8, DType.INT32): "tml_requantize_s8_s32", (DType.INT16, DType.INT32): "tml_requantize_s16_s32",
    (DType.INT32, DType.INT8): "tml_requantize_s32_s8", (DType.INT32, DType.INT16): "tml_requantize_s32_s16",
}


QUANTIZE_FLOAT_FUNCS = {DType.INT8: "tml_quantize_f32_s8", DType.INT16: "tml_quantize_f32_s16"}


DEQUANTIZE_FUNCS = {DType.INT8: "tml_dequantize_s8_f32", DType.INT16: "tml_dequantize_s16_f32",
                    DType.UINT8: "tml_dequantize_u8_f32"}


TYPE_RANGES = {DType.INT8: (QMIN, QMAX), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
               DType.INT32: (-(1 << 31), (1 << 31) - 1)}


def _pairs(pairs: object) -> str:
    return ", ".join(f"{a.value} -> {b.value}" for a, b in pairs)  # type: ignore[attr-defined]


def lower_quantize(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    supported = f"{_pairs(REQUANTIZE_FUNCS)}, {_pairs((DType.FLOAT32, t) for t in QUANTIZE_FLOAT_FUNCS)}"
    require(y.quant is not None and not y.quant.per_channel, f"QUANTIZE from {x.dtype.value} to {y.dtype.value} "
            "needs one scale and zero point on its output (as TFLM requires)")
    if x.dtype is DType.FLOAT32:
        require(y.dtype in QUANTIZE_FLOAT_FUNCS, f"QUANTIZE from float32 to {y.dtype.value} is not supported (TFLM's "
                f"kernel takes {supported})")
        return [Kernel(QUANTIZE_FLOAT_FUNCS[y.dtype], QuantizeParams(x.size, y.scale, y.zero_point),
                       (op.inputs[0], op.outputs[0]))]
    require((x.dtype, y.dtype) in REQUANTIZE_FUNCS and x.quant is not None,
            f"QUANTIZE from {x.dtype.value}{'' if x.quant else ' (not quantized)'} to {y.dtype.value} is not "
            f"supported (TFLM's kernel takes {supported}, each quantized)")
    # TFLM's Requantize: MultiplyByQuantizedMultiplier of the input less its zero point by the scale ratio (a
    # double), plus the output zero point, saturated to the output type
    m, s = quantize_multiplier(x.scale / y.scale)
    lo, hi = TYPE_RANGES[y.dtype]
    return [Kernel(REQUANTIZE_FUNCS[x.dtype, y.dtype], RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, lo,
                                                                          hi), (op.inputs[0], op.outputs[0]))]


def lower_dequantize(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    require(y.dtype is DType.FLOAT32 and x.dtype in DEQUANTIZE_FUNCS and x.quant is not None,
            f"DEQUANTIZE from {x.dtype.value}{'' if x.quant else ' (not quantized)'} to {y.dtype.value} is not "
            f"supported (TFLM's kernel takes {_pairs((t, DType.FLOAT32) for t in DEQUANTIZE_FUNCS)}, quantized)")
    return [Kernel(DEQUANTIZE_FUNCS[x.dtype], DequantizeParams(x.size, x.scale, x.zero_point),
                   (op.inputs[0], op.outputs[0]))]


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.QUANTIZE: lower_quantize, OpKind.DEQUANTIZE: lower_dequantize,
}


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.QUANTIZE: check_one_input, OpKind.DEQUANTIZE: check_one_input,
}
