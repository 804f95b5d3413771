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


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """TensorFlow's C++ code logs to file descriptor 2 (absl, oneDNN, MLIR): point it at /dev/null meanwhile."""
    import os
    import sys
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> Any:
    """TensorFlow, imported with its start-up log lines kept off the user's terminal."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_stderr():
            import tensorflow as tf
    except ImportError:
        raise TinymlError("this needs TensorFlow: pip install 'tinyml[tf]'") from None
    return tf


def keras_to_float_tflite(model: Any) -> bytes:
    tf = import_tensorflow()
    try:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        with contextlib.redirect_stdout(io.StringIO()), _quiet_stderr():  # signature dump, MLIR log lines
            return bytes(conv.convert())
    except Exception as e:
        raise TinymlError(_conversion_error(model, e)) from None


def _conversion_error(model: Any, e: Exception) -> str:
    """One paragraph for a converter failure: TensorFlow ops without a TFLite builtin are named (with the usual
    cause, a recurrent layer that is not unrolled), not the converter's MLIR dump."""
    import re
    label = getattr(model, "name", type(model).__name__)
    text = str(e)
    tf_ops = sorted(set(re.findall(r"'tf\.(\w+)'", text)))
    if tf_ops:
        recurrent = any(op.startswith("TensorList") or op in ("While", "StatelessWhile") for op in tf_ops)
        why = (" These come from a recurrent layer (LSTM, GRU, SimpleRNN) whose time loop TensorFlow keeps as a "
               "loop: build it with unroll=True (a fixed number of time steps) so that it converts to "
               "FULLY_CONNECTED and element-wise operators." if recurrent else "")
        return (f"TensorFlow's converter could not convert the Keras model '{label}': it uses TensorFlow "
                f"operations that have no TensorFlow Lite builtin ({', '.join('tf.' + o for o in tf_ops)}).{why}")
    first = next((line for line in text.splitlines() if line.strip()), "")
    return (f"TensorFlow's converter could not convert the Keras model '{label}': {type(e).__name__}: "
            f"{first[:300]}")


def from_keras(model: Any, name: str | None = None) -> Graph:
    """A float32 IR graph of a Keras model (input shape with batch size 1 or None)."""
    label = name or getattr(model, "name", "keras_model")
    g = parse_tflite(keras_to_float_tflite(model), source=f"keras:{label}")
    for i in g.inputs:
        if g.tensor(i).dtype is not DType.FLOAT32:
            raise TinymlError(f"from_keras expects a float model; input '{g.tensor(i).name}' is "
                              f"{g.tensor(i).dtype.value}")
    return fuse_activations(g)
