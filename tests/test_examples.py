"""The examples run as a user runs them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, needs_tflm, tf_available
from oracle import tflm_run

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")

from tinyml.frontends.tflite import parse_tflite  # noqa: E402
from tinyml.quant import quantize_input  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.mark.skipif(not tf_available(), reason="the digits example compares with TensorFlow's converter")
def test_digits_example(tmp_path):
    emulate = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
    cmd = [sys.executable, str(ROOT / "examples" / "digits" / "run.py"), "--out", str(tmp_path / "d"),
           "--epochs", "10", "--emulate-images", "1"] + ([] if emulate else ["--no-emulate"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((tmp_path / "d" / "results.json").read_text())
    for k in ("float_acc", "int8_acc", "mixed_acc", "tflite_ptq_acc", "int8_weight_bytes", "mixed_weight_bytes",
              "int8_tflite", "test_data"):
        assert k in res
    assert all(v is True for k, v in res["checks"].items() if k != "keras_twin_matches_torch")
    assert res["checks"]["keras_twin_matches_torch"] < 1e-4
    assert res["mixed_weight_bytes"] <= 0.6 * res["int8_weight_bytes"]
    # the exported model and test data reproduce int8_acc with TFLM independently
    data = np.load(res["test_data"])
    buf = Path(res["int8_tflite"]).read_bytes()
    q = parse_tflite(buf)
    pred = [tflm_run(buf, [quantize_input(q, data["x"][i:i + 1])], 1)[0].argmax() for i in range(len(data["x"]))]
    assert np.isclose(np.mean(np.array(pred) == data["y"]), res["int8_acc"])


def test_mnist1d_example(tmp_path):
    """The MNIST-1D example, short: every variant exported, compiled and bit-exact with TFLM on the whole test set
    (and on QEMU where the toolchain is installed); results.json as documented."""
    pytest.importorskip("mnist1d", reason="the MNIST-1D example generates its data with the mnist1d package: "
                                          "pip install '.[test]'")
    emulate = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
    cmd = [sys.executable, str(ROOT / "examples" / "mnist1d" / "run.py"), "--out", str(tmp_path / "m"),
           "--epochs", "4", "--qat-epochs", "1"] + ([] if emulate else ["--no-emulate"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((tmp_path / "m" / "results.json").read_text())
    rec = {v["variant"]: v for v in res["variants"]}
    assert list(rec) == ["float", "int8", "int4", "mixed", "int4_qat", "search"]
    for name, v in rec.items():
        assert {"accuracy", "weight_bytes", "peak_sram_bytes", "bit_exact"} <= set(v) and 0.1 < v["accuracy"] <= 1
        assert v["bit_exact"] is (None if name == "float" else True), name
    assert rec["mixed"]["weight_bytes"] <= 0.55 * rec["int8"]["weight_bytes"]
    assert rec["int4"]["weight_bytes"] < rec["int8"]["weight_bytes"] < rec["float"]["weight_bytes"]
    assert rec["search"]["weight_bytes"] <= 0.45 * rec["int8"]["weight_bytes"]
    assert rec["search"]["peak_sram_bytes"] <= rec["int8"]["peak_sram_bytes"]
    assert (tmp_path / "m" / "mnist1d.png").stat().st_size > 1000
