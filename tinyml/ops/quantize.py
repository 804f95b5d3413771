"""Lowering of QUANTIZE and DEQUANTIZE: every input/output type pair TFLM's kernels take."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import access
from .. import fixedpoint as fp
from ..fixedpoint import (
    quantize_multiplier,
)
from ..ir import (
    DType,
    Graph,
    Op,
    OpKind,
)
from ..params import DequantizeParams, Kernel, KernelRow, QuantizeParams, RequantizeParams
from .common import QMAX, QMIN, Arr, FloatCall, check_one_input, require, sat8

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


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def requantize(p: RequantizeParams, x: Arr) -> Arr:
    """Clamped to [act_min, act_max], the output type's range or an activation's (the caller casts)."""
    v = x.astype(np.int64) - p.input_zp
    return np.clip(fp.mbqm(v, p.multiplier, p.shift) + p.output_zp, p.act_min, p.act_max)


def quantize(p: QuantizeParams, x: Arr, wide: bool = False) -> Arr:
    q = np.float32(x) / np.float32(p.scale)
    r = np.where(q >= 0, np.floor(q.astype(np.float64) + 0.5), -np.floor(-q.astype(np.float64) + 0.5))
    r = np.clip(r, -(1 << 31), (1 << 31) - 1).astype(np.int64) + p.zero_point
    return np.clip(r, -32768, 32767) if wide else sat8(r)


def quantize_values(x: Arr, scale: float, zero_point: int, wide: bool = False) -> Arr:
    """Real values to int8 (`wide`: int16) as TFLite does it (float32 division, round half away from zero, zero
    point, saturation): what `model_quantize_input_f32` in the generated model.c computes for int8."""
    q = quantize(QuantizeParams(int(np.size(x)), scale, zero_point), np.asarray(x, np.float32), wide=wide)
    return q.astype(np.int16) if wide else q


def quantize_to(x: Arr, scale: float, zero_point: int, dtype: np.dtype) -> Arr:
    """Real values to the integer type `dtype` (int8, uint8 or int16) as `quantize_values`, saturated to that
    type: what `model_quantize_input_f32` computes for an input of that type."""
    q = np.float32(np.asarray(x, np.float32)) / np.float32(scale)
    r = np.where(q >= 0, np.floor(q.astype(np.float64) + 0.5), -np.floor(-q.astype(np.float64) + 0.5))
    r = np.clip(np.nan_to_num(r), -(1 << 31), (1 << 31) - 1).astype(np.int64) + zero_point
    info = np.iinfo(dtype)
    return np.clip(r, info.min, info.max).astype(dtype)


def dequantize_values(y: Arr, scale: float, zero_point: int) -> Arr:
    """int8 (or uint8, int16) values to float32: (q - zero point) * scale in float32, as
    `model_dequantize_output_f32` does."""
    return (np.asarray(y).astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


def dequantize(p: DequantizeParams, x: Arr) -> Arr:
    return (p.scale * (x.astype(np.float64) - p.zero_point)).astype(np.float32)


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_requantize_s8", ("tml_requantize_s8.c",), requantize, gap=access.in_order),
    KernelRow("tml_requantize_s16", ("tml_s16.c",), requantize, gap=access.in_order),
    # no gap where the output elements are wider than the input's: each written one runs ahead of the input
    # elements it came from (int8 -> int16 or int32, int16 -> int32)
    KernelRow("tml_requantize_s8_s16", ("tml_s16.c",), requantize),
    KernelRow("tml_requantize_s16_s8", ("tml_s16.c",), requantize, gap=access.in_order),
    *(KernelRow(f"tml_requantize_{a}_{b}", ("tml_requantize_mixed.c",), requantize,
                gap=None if b == "s32" else access.in_order)
      for a, b in (("u8", "s8"), ("s8", "u8"), ("s8", "s32"), ("s16", "s32"), ("s32", "s8"), ("s32", "s16"))),
    KernelRow("tml_quantize_f32_s8", ("tml_quantize_f32_s8.c",), quantize),
    KernelRow("tml_quantize_f32_s16", ("tml_s16.c",), lambda p, x: quantize(p, x, wide=True)),
    KernelRow("tml_dequantize_s8_f32", ("tml_dequantize_s8_f32.c",), dequantize),
    KernelRow("tml_dequantize_s16_f32", ("tml_s16.c",), dequantize),
    KernelRow("tml_dequantize_u8_f32", ("tml_requantize_mixed.c",), dequantize),
]}


# float execution on the PyTorch path: the float model has no quantization steps
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {OpKind.QUANTIZE: lambda c: c.x, OpKind.DEQUANTIZE: lambda c: c.x}
