"""The eight real models in ../shared/models: generated C and reference bit-exact with TFLM."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, needs_tflm, shared_baseline
from helpers import assert_bit_exact
from oracle import random_inputs

MODELS = [m["file"] for m in shared_baseline()] or ["(none)"]

pytestmark = [needs_shared(), needs_tflm()]


@pytest.mark.parametrize("name", MODELS)
def test_shared_model_bit_exact(name, tmp_path):
    m = next(m for m in shared_baseline() if m["file"] == name)
    report = assert_bit_exact(SHARED_MODELS / name, tmp_path / "out")
    assert report["macs"] == m["macs"]
    assert report["max_layer_io_bytes"] == m["max_layer_io_bytes"]
    # layer-by-layer planning never needs more than the largest layer's input + output
    assert report["peak_sram_bytes"] <= m["max_layer_io_bytes"] + 3


@pytest.mark.parametrize("name", MODELS)
def test_cli_contract_matches_baseline(name, tmp_path):
    """`tinyml compile` + `tinyml run` reproduce baseline.json's TFLM output for the seed-0 input."""
    m = next(m for m in shared_baseline() if m["file"] == name)
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "tinyml"]
    r = subprocess.run(cli + ["compile", str(SHARED_MODELS / name), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    for key in ("peak_sram_bytes", "flash_bytes", "macs", "layers"):
        assert key in rep
    for layer in rep["layers"]:
        assert {"name", "op", "macs", "output_bytes", "arena_offset"} <= set(layer)
    args = []
    for k, x in enumerate(random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], 0)):
        np.save(tmp_path / f"in{k}.npy", x)
        args += ["--input", str(tmp_path / f"in{k}.npy")]
    r = subprocess.run(cli + ["run", str(out), *args, "--output", str(tmp_path / "o.npz")], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "o.npz")
    for j, ref in enumerate(m["tflm_output_seed0"]):
        assert got[f"output_{j}"].reshape(-1).tolist() == ref
        assert list(got[f"output_{j}"].shape) == m["output"][j]["shape"]
        assert got[f"output_{j}"].dtype == np.dtype(m["output"][j]["dtype"])


def test_cli_reference_executor(tmp_path):
    """`tinyml run --reference` (NumPy executor) on a compiled directory and on the .tflite itself."""
    m = next(m for m in shared_baseline() if m["file"] == "str_ww_ref_model.tflite")
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "tinyml"]
    assert subprocess.run(cli + ["compile", str(SHARED_MODELS / m["file"]), "-o", str(out)]).returncode == 0
    x, = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], 0)
    np.save(tmp_path / "in.npy", x)
    for target in (out, SHARED_MODELS / m["file"]):
        r = subprocess.run(cli + ["run", str(target), "--reference", "--input", str(tmp_path / "in.npy"),
                                  "--output", str(tmp_path / "r.npz")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert np.load(tmp_path / "r.npz")["output_0"].reshape(-1).tolist() == m["tflm_output_seed0"][0]
