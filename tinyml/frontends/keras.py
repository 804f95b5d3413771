"""Import a Keras model into a float32 `tinyml.ir.Graph` via TensorFlow's own converter.

The converter (no optimizations, so weights stay float) already folds BatchNorm, fuses activations and writes
NHWC; its float `.tflite` is read by the same importer as int8 models.  Quantize the result with
`tinyml.quantize`, exactly like a graph from `from_torch`.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any

from ..errors import TinymlError
from ..ir import DType, Graph
from .passes import fuse_activations
from .tflite import parse_tflite


def keras_to_float_tflite(model: Any) -> bytes:
    try:
        import tensorflow as tf
    except ImportError:
        raise TinymlError("from_keras needs TensorFlow: pip install 'tinyml[tf]'") from None
    try:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the exported signature
            return bytes(conv.convert())
    except Exception as e:
        raise TinymlError(f"TensorFlow's converter could not convert the Keras model "
                          f"'{getattr(model, 'name', type(model).__name__)}': {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from None


def from_keras(model: Any, name: str | None = None) -> Graph:
    """A float32 IR graph of a Keras model (input shape with batch size 1 or None)."""
    label = name or getattr(model, "name", "keras_model")
    g = parse_tflite(keras_to_float_tflite(model), source=f"keras:{label}")
    for i in g.inputs:
        if g.tensor(i).dtype is not DType.FLOAT32:
            raise TinymlError(f"from_keras expects a float model; input '{g.tensor(i).name}' is "
                              f"{g.tensor(i).dtype.value}")
    return fuse_activations(g)
