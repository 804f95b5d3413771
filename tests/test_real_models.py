"""Models others published for microcontrollers (../shared/models/real): each compiled with the default options
and bit-exact with the TFLM references stored beside it (all five cases, each from the reset state), every
intermediate tensor of the reference executor equal to TFLM's (their classifiers saturate on random inputs, so
the outputs alone are a weak oracle), the stateful ones over a sequence of invokes, and on QEMU."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_tflm
from oracle import tflm_intermediates, tflm_sequence

import tinyml
from tinyml.compiler import CompileOptions, compile_model
from tinyml.frontends.tflite import load_tflite
from tinyml.interpreter import run_reference

REAL = SHARED_MODELS / "real"
NAMES = ["mnist_lstm", "person_mbv2_035_128", "ad_toycar_mltk", "kws_svdf_scrambled8"]
STATEFUL = ["mnist_lstm", "kws_svdf_scrambled8"]
pytestmark = [needs_tflm(), pytest.mark.skipif(not REAL.is_dir(), reason=f"real models not present at {REAL}")]


def _cases(name: str) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    r = np.load(REAL / f"{name}.ref.npz")
    out = []
    for k in range(5):
        xs = [r[f"x{k}_{j}"] for j in range(8) if f"x{k}_{j}" in r.files]
        ys = [r[f"y{k}_{j}"] for j in range(8) if f"y{k}_{j}" in r.files]
        out.append((xs, ys))
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            out = tmp_path_factory.mktemp(name) / "out"
            compile_model(REAL / f"{name}.tflite", out, CompileOptions())
            cache[name] = out
        return cache[name]
    return get


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("name", NAMES)
def test_real_model_bit_exact_on_host(name, compiled):
    out = compiled(name)
    rep = json.loads((out / "report.json").read_text())
    r = np.load(REAL / f"{name}.ref.npz")
    assert rep["peak_sram_bytes"] <= int(r["arena"])  # never more than TFLM's whole arena
    for k, (xs, ys) in enumerate(_cases(name)):
        got = tinyml.run(out, xs)  # each case from the reset state, as the references
        assert len(got) == len(ys)
        for j, (g, y) in enumerate(zip(got, ys)):
            assert _same(g, y), f"{name} case {k} output {j}: {g.reshape(-1)[:8]} vs TFLM {y.reshape(-1)[:8]}"


@pytest.mark.parametrize("name", ["person_mbv2_035_128", "ad_toycar_mltk"])
def test_real_model_every_tensor_matches_tflm(name):
    """The reference executor (what compile checks the C against) equals TFLM at every layer, not only at the
    saturated outputs (tensors matched by name: folding renumbers them)."""
    import tflite
    path = REAL / f"{name}.tflite"
    sg = tflite.Model.GetRootAsModel(path.read_bytes(), 0).Subgraphs(0)
    file_index = {sg.Tensors(i).Name().decode(): i for i in range(sg.TensorsLength())}
    g = load_tflite(path)
    for xs, _ in _cases(name)[:1]:
        ours = run_reference(g, xs, keep_all=True)
        outs = [o for op in g.ops for o in op.outputs]
        theirs = tflm_intermediates(path.read_bytes(), xs, [file_index[g.tensor(o).name] for o in outs], 16 << 20)
        for k, op in enumerate(g.ops):
            o = op.outputs[0]
            a = np.asarray(ours[o]).reshape(-1)
            b = theirs[file_index[g.tensor(o).name]].reshape(-1)
            assert np.array_equal(a, b.astype(a.dtype)), f"{name}: operator {k} ({op.kind.value})"


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_real_model_sequences_via_cli(name, compiled, tmp_path):
    """`tinyml run --steps 5`: five invokes in order, the state carried along, as TFLM's one interpreter."""
    out = compiled(name)
    seq = [xs for xs, _ in _cases(name)]
    want = tflm_sequence((REAL / f"{name}.tflite").read_bytes(), seq, arena_size=16 << 20)
    np.save(tmp_path / "in.npy", np.stack([xs[0] for xs in seq]))
    r = subprocess.run([sys.executable, "-m", "tinyml", "run", str(out), "--input", str(tmp_path / "in.npy"),
                        "--steps", "5", "--output", str(tmp_path / "o.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "o.npz")["output_0"]
    assert got.shape[0] == 5
    for t in range(5):
        assert _same(got[t], want[t]), f"{name} step {t}"


@pytest.mark.firmware
@pytest.mark.parametrize("name", NAMES)
def test_real_model_on_qemu(name, compiled):
    import shutil
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (apt)")
    from tinyml.harness.firmware import emulate
    out = compiled(name)
    cases = _cases(name)
    if name in STATEFUL:  # one firmware running the five invokes in order, against TFLM's sequence
        seq = [xs for xs, _ in cases]
        res = emulate(out, "mps2-an386", [np.stack(x) for x in zip(*seq)], steps=5)
        want = tflm_sequence((REAL / f"{name}.tflite").read_bytes(), seq, arena_size=16 << 20)
        got = res["outputs"][0]
        for t in range(5):
            assert _same(got[t].astype(want[t].dtype), want[t]), f"{name} step {t} on QEMU"
    else:
        xs, ys = cases[0]
        res = emulate(out, "mps2-an386", xs)
        for g, y in zip(res["outputs"], ys):
            assert _same(np.asarray(g).reshape(y.shape).astype(y.dtype), y)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
