"""Quantization: float IR graph + calibration data -> integer IR graph (and a .tflite TFLM runs).

    g = tinyml.from_torch(model, example)             # or tinyml.from_keras(keras_model)
    q = tinyml.quantize(g, calib_x)                  # int8 (weights="int4" or {op: 4} for int4 layers)
    tinyml.export_tflite(q, "model_int8.tflite")      # `tinyml compile` and TFLM both take it
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TinymlError
from ..ir import Graph
from .config import QuantConfig
from .ptq import (
    ESTIMATORS,
    calibrate,
    dequantize_output,
    quantize_graph,
    quantize_input,
    weight_bytes,
    weighted_ops,
)

__all__ = ["quantize", "export_tflite", "evaluate", "QuantConfig", "calibrate", "quantize_graph", "ESTIMATORS",
           "weight_bytes", "quantize_input", "dequantize_output"]


def weight_widths(g: Graph, weights: str | int | dict[int, int]) -> dict[int, int]:
    """Per weighted op bit width from "int8", "int4", 8, 4 or {op index: bits}."""
    if isinstance(weights, dict):
        bad = [b for b in weights.values() if b not in (4, 8)]
        if bad:
            raise TinymlError(f"weight widths must be 4 or 8 bits, got {bad[0]}")
        return {k: weights.get(k, 8) for k in weighted_ops(g)}
    bits = {"int8": 8, "int4": 4, 8: 8, 4: 4}.get(weights)  # type: ignore[call-overload]
    if bits is None:
        raise TinymlError(f"weights must be 'int8', 'int4' or a dict of per-layer widths, got {weights!r}")
    return {k: bits for k in weighted_ops(g)}


def quantize(g: Graph, calib: np.ndarray, *, weights: str | int | dict[int, int] = "int8",
             estimator: str = "minmax", bias_correction: bool = True, config: QuantConfig | None = None) -> Graph:
    """The integer graph of float graph `g` calibrated on `calib` (NHWC float inputs, batch first)."""
    if config is None:
        config = calibrate(g, calib, estimator=estimator, weight_bits=weight_widths(g, weights),
                           bias_correction=bias_correction)
    return quantize_graph(g, config)


def export_tflite(q: Graph, path: str | Path) -> Path:
    """Write integer graph `q` as a .tflite file (atomically)."""
    from ..frontends.tflite_writer import write_tflite
    p = Path(path)
    if not p.parent.exists():
        raise TinymlError(f"cannot write '{p}': directory '{p.parent}' does not exist")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(write_tflite(q))
    tmp.replace(p)
    return p


def evaluate(q: Graph, x: np.ndarray, y: np.ndarray | None = None) -> dict:
    """Run integer graph `q` with the NumPy reference executor (TFLM's arithmetic) on float inputs `x`:
    dequantized outputs, and top-1 accuracy when labels `y` are given."""
    from ..interpreter import run_reference
    from ..lower import lower
    kernels = lower(q)
    outs = np.stack([dequantize_output(q, run_reference(q, [quantize_input(q, x[n:n + 1])], kernels)[0])[0]
                     for n in range(len(x))])
    res: dict = {"outputs": outs}
    if y is not None:
        res["accuracy"] = float((outs.reshape(len(x), -1).argmax(1) == np.asarray(y)).mean())
    return res
