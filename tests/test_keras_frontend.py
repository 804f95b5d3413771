"""The Keras front end: a float Keras model through TensorFlow's converter, quantized by tinyml."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import needs_tflm, tf_available

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")

import tinyml  # noqa: E402
from tinyml.quant import calibrate, quantize_graph  # noqa: E402
from tinyml.quant.executor import GraphExecutor, run_batches  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from torchnets import check_exported  # noqa: E402


@pytest.mark.skipif(not tf_available(), reason="tensorflow-cpu is needed for the Keras front end")
def test_keras_front_end(tmp_path):
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    inp = tf.keras.Input((12, 12, 2), batch_size=1)
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = L.BatchNormalization()(h)
    h = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(h)
    h = L.AveragePooling2D(2)(h)
    h = L.Flatten()(h)
    out = L.Dense(4, activation="softmax")(L.Dense(16, activation="relu")(h))
    km = tf.keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(64, 12, 12, 2)).astype(np.float32)
    g = tinyml.from_keras(km)
    assert np.abs(run_batches(GraphExecutor(g), x) - km.predict(x, batch_size=1, verbose=0)).max() < 1e-5
    cfg = calibrate(g, x)
    check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))
