"""Bad input: one readable paragraph on stderr, a non-zero exit, no traceback, nothing half-written."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, tf_available


def tinyml(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinyml", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_user_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    msg = r.stderr.strip()
    assert msg.startswith("tinyml ") and "error:" in msg
    for n in needles:
        assert n.lower() in msg.lower(), msg


def test_missing_file(tmp_path):
    r = tinyml("compile", tmp_path / "nope.tflite", "-o", tmp_path / "out")
    assert_user_error(r, "does not exist")
    assert not (tmp_path / "out").exists()


def test_not_a_tflite(tmp_path):
    p = tmp_path / "junk.tflite"
    p.write_bytes(b"hello, this is not a model" * 10)
    r = tinyml("compile", p, "-o", tmp_path / "out")
    assert_user_error(r, "not a TensorFlow Lite model")
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == [p]


@needs_shared()
@pytest.mark.parametrize("cut", [16, 1000, 20000, 53000])
def test_truncated(tmp_path, cut):
    p = tmp_path / "cut.tflite"
    p.write_bytes((SHARED_MODELS / "kws_ref_model.tflite").read_bytes()[:cut])
    r = tinyml("compile", p, "-o", tmp_path / "out")
    assert_user_error(r)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == [p]


@needs_shared()
def test_corrupted_bytes(tmp_path):
    data = bytearray((SHARED_MODELS / "kws_ref_model.tflite").read_bytes())
    rs = np.random.RandomState(0)
    for off in rs.randint(8, 2000, size=64):
        data[off] ^= 0xFF
    p = tmp_path / "bad.tflite"
    p.write_bytes(bytes(data))
    r = tinyml("compile", p, "-o", tmp_path / "out")
    if r.returncode == 0:  # flipped bytes that still form a valid model must still compile to a runnable model
        assert (tmp_path / "out" / "report.json").exists()
    else:
        assert_user_error(r)
        assert not (tmp_path / "out").exists()


def _convert(model, float_model=False):
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if not float_model:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([np.random.rand(1, 8, 8, 3).astype(np.float32)] for _ in range(8))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.mark.skipif(not tf_available(), reason="tensorflow-cpu needed to build a float model")
def test_float_model(tmp_path):
    import tensorflow as tf
    x = tf.keras.Input((8, 8, 3), batch_size=1)
    m = tf.keras.Model(x, tf.keras.layers.Conv2D(2, 3)(x))
    p = tmp_path / "float.tflite"
    p.write_bytes(_convert(m, float_model=True))
    r = tinyml("compile", p, "-o", tmp_path / "out")
    assert_user_error(r, "float model", "int8", "tinyml compress")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not tf_available(), reason="tensorflow-cpu needed to build a model with an unsupported op")
def test_unsupported_op(tmp_path):
    import tensorflow as tf
    x = tf.keras.Input((8, 8, 3), batch_size=1)
    y = tf.keras.layers.UpSampling2D(2)(tf.keras.layers.Conv2D(2, 3)(x))  # RESHAPE + TILE
    y = tf.keras.layers.Activation("gelu")(y)
    p = tmp_path / "tile_gelu.tflite"
    p.write_bytes(_convert(tf.keras.Model(x, y)))
    r = tinyml("compile", p, "-o", tmp_path / "out")
    assert_user_error(r, "TILE", "operator", "Supported operators", "CONV_2D")
    assert not (tmp_path / "out").exists()
    r = tinyml("inspect", p)  # every unsupported operator is named, not only the first
    assert_user_error(r, "TILE", "GELU", "3 operators")
    assert "TILE: TFLM's interpreter does not register it either" in r.stderr  # each refusal says why


@needs_shared()
def test_run_input_errors(tmp_path):
    out = tmp_path / "out"
    assert tinyml("compile", SHARED_MODELS / "hello_world_int8.tflite", "-o", out).returncode == 0
    r = tinyml("run", out, "--input", tmp_path / "missing.npy", "--output", tmp_path / "o.npz")
    assert_user_error(r, "does not exist")
    np.save(tmp_path / "f.npy", np.zeros((1, 1), np.float32))
    r = tinyml("run", out, "--input", tmp_path / "f.npy", "--output", tmp_path / "o.npz")
    assert_user_error(r, "int8")
    np.save(tmp_path / "s.npy", np.zeros((1, 5), np.int8))
    r = tinyml("run", out, "--input", tmp_path / "s.npy", "--output", tmp_path / "o.npz")
    assert_user_error(r, "shape")
    r = tinyml("run", tmp_path / "nothing", "--input", tmp_path / "s.npy", "--output", tmp_path / "o.npz")
    assert_user_error(r, "does not exist")
    assert not (tmp_path / "o.npz").exists()
    r = tinyml("compile", SHARED_MODELS / "hello_world_int8.tflite", "-o", out, "--board", "no-such-board")
    assert_user_error(r, "unknown board", "mps2-an386")


@needs_shared()
def test_board_budget(tmp_path):
    """vww needs 55 KB of activations: it fits the 128 KB netduinoplus2 and is checked against it."""
    r = tinyml("compile", SHARED_MODELS / "vww_96_int8.tflite", "-o", tmp_path / "ok", "--board", "netduinoplus2")
    assert r.returncode == 0, r.stderr


def test_refuses_to_clobber_foreign_directory(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    if not (SHARED_MODELS / "hello_world_int8.tflite").is_file():
        pytest.skip("shared models absent")
    r = tinyml("compile", SHARED_MODELS / "hello_world_int8.tflite", "-o", d)
    assert_user_error(r, "not written by tinyml")
    assert (d / "thesis.tex").read_text() == "precious"


def test_help_describes_the_default_patch_policy():
    r = tinyml("compile", "--help")
    assert r.returncode == 0 and "row pipeline" in r.stdout and "no extra" in r.stdout
