"""`tinyml compress`: the budget search over widths, pruning and memory configurations, from the command line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_tflm

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.errors import TinymlError  # noqa: E402
from tinyml.frontends.tflite import parse_tflite  # noqa: E402
from tinyml.ir import DType, OpKind  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from torchnets import check_exported, nhwc  # noqa: E402


def _tinyml(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")  # rich's tables, unwrapped
    return subprocess.run([sys.executable, "-m", "tinyml", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_compress_cli(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    ep = torch.export.export(m, (torch.tensor(x[:1]),))
    torch.export.save(ep, str(tmp_path / "net.pt2"))
    np.savez(tmp_path / "calib.npz", x=x[:200], y=d.target[:200])
    np.savez(tmp_path / "val.npz", x=x[200:400], y=d.target[200:400])
    int8 = tinyml.quant.weight_bytes(tinyml.quantize(tinyml.from_torch(m, torch.tensor(x[:1])), nhwc(x[:200])))
    budget = int(0.6 * int8)
    r = _tinyml("compress", "net.pt2", "--data", "calib.npz", "--val", "val.npz", "--flash-budget", str(budget),
                "--sram-budget", "4096", "-o", "net_small.tflite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "net_small.json").read_text())
    assert doc["weight_bytes"] <= budget and doc["chosen"]["fits"] and doc["chosen"]["int4_layers"] >= 1
    assert doc["chosen"]["peak_sram"] <= 4096 and len(doc["candidates"]) >= 4 and doc["pareto"]
    assert (tmp_path / "net_small.png").is_file()
    assert "Pareto" in r.stdout
    q = parse_tflite((tmp_path / "net_small.tflite").read_bytes())
    check_exported(q, nhwc(x), tmp_path / "check", n=3)

    front = {c["name"] for c in doc["pareto"]}  # the chosen row carries the Pareto marker too
    assert (" * (chosen)" in r.stdout) == (doc["chosen"]["name"] in front)
    # --bits 8: no int4 layer, and no budget: int8 by default
    r = _tinyml("compress", "net.pt2", "--data", "calib.npz", "--bits", "8", "-o", "n8.tflite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "n8.json").read_text())["chosen"]["int4_layers"] == 0
    # a budget nothing reaches fails before any training: one paragraph, the smallest footprint, no file
    import time
    t = time.time()
    r = _tinyml("compress", "net.pt2", "--data", "calib.npz", "--flash-budget", "100", "--finetune-epochs", "50",
                "-o", "none.tflite", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no configuration can fit" in r.stderr and "smallest footprint" in r.stderr
    assert not (tmp_path / "none.tflite").exists() and time.time() - t < 60  # (50 epochs would take minutes)
    # wrong data layout and unknown formats
    np.savez(tmp_path / "bad.npz", x=x[:10, 0])
    r = _tinyml("compress", "net.pt2", "--data", "bad.npz", "-o", "o.tflite", cwd=tmp_path)
    assert r.returncode != 0 and "NCHW" in r.stderr and "Traceback" not in r.stderr
    np.savez(tmp_path / "nhwc.npz", x=x[:10].transpose(0, 2, 3, 1))  # NHWC data for an NCHW model
    r = _tinyml("compress", "net.pt2", "--data", "nhwc.npz", "-o", "o.tflite", cwd=tmp_path)
    assert r.returncode != 0 and "has shape [10, 8, 8, 1]" in r.stderr and "needs [N, 1, 8, 8]" in r.stderr
    assert "FutureWarning" not in r.stderr
    (tmp_path / "m.onnx").write_bytes(b"x")
    r = _tinyml("compress", "m.onnx", "--data", "calib.npz", "-o", "o.tflite", cwd=tmp_path)
    assert r.returncode != 0 and "unknown model format" in r.stderr


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi to measure code size")
def test_compress_for_a_board_measures_the_code(tmp_path):
    """--board: the flash left for weights is the board's flash minus the firmware's measured code and tables, so
    a 12 KiB part (less than a fixed 32 KiB code reserve) gets a model, and its firmware really links."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    torch.export.save(torch.export.export(m, (torch.tensor(x[:1]),)), str(tmp_path / "net.pt2"))
    np.savez(tmp_path / "calib.npz", x=x[:200], y=d.target[:200])
    flash = 12 * 1024
    (tmp_path / "tiny.toml").write_text(
        'name = "tiny-m4"\ncore = "cortex-m4"\nfpu = "fpv4-sp-d16"\ndsp = true\nclock_hz = 48000000\n'
        'console = "semihosting"\n[memory.flash]\nbase = 0x00000000\nsize = ' + str(flash) + '\n'
        '[memory.sram]\nbase = 0x20000000\nsize = 16384\narena = true\n')
    r = _tinyml("compress", "net.pt2", "--data", "calib.npz", "--board", "tiny.toml", "-o", "net.tflite",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "net.json").read_text())
    assert doc["board"]["code_bytes_measured"] and 0 < doc["board"]["code_bytes"] < flash
    assert doc["weight_bytes"] + doc["board"]["code_bytes"] <= flash
    assert "measured with arm-none-eabi-gcc" in r.stdout
    out = tmp_path / "c"
    tinyml.compile(tmp_path / "net.tflite", out, board=str(tmp_path / "tiny.toml"))
    b = _tinyml("build", str(out), "--board", str(tmp_path / "tiny.toml"), cwd=tmp_path)
    assert b.returncode == 0, b.stderr


class FrontEnd(nn.Module):
    """An audio-style model whose input bands span three decades: int8 activations lose the quiet bands."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 8, (5, 3), stride=(2, 1), padding=(2, 1))
        self.b = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.c = nn.Conv2d(8, 12, 1)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y = torch.relu(self.c(torch.relu(self.b(torch.tanh(self.a(x))))))
        return self.fc(y.mean((2, 3)))


def test_compress_offers_16x8(tmp_path):
    """`compress(activations=...)`: 16x8 (int16 activations, int8 weights, int64 biases) in every op that has a
    16x8 kernel, or mixed (from the input up to a cut point, or from one on, QUANTIZE ops between the widths),
    each scored with its own peak SRAM; the model input int16 where only 16x8 ops read it. The 16x8 pick is
    closer to the float model than int8 and needs about twice the SRAM; every pick is bit-exact with TFLM."""
    from tinyml.quant.compress import compress
    torch.manual_seed(0)
    m = FrontEnd().eval()
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(160, 1, 20, 10)) * np.geomspace(0.005, 5, 10)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    r8 = compress(g, nhwc(x[:128]), nhwc(x[128:]))
    r16 = compress(g, nhwc(x[:128]), nhwc(x[128:]), activations="16x8")
    assert not r8.chosen.wide and r16.chosen.wide and r16.chosen.name.startswith("int8, 16x8")
    assert r16.chosen.loss < r8.chosen.loss / 4 and r16.chosen.peak_sram > 1.5 * r8.chosen.peak_sram
    q = r16.graph
    assert q.tensor(q.inputs[0]).dtype is DType.INT16 and any(t.dtype is DType.INT64 for t in q.tensors)
    check_exported(q, nhwc(x[128:]), tmp_path / "w16", n=3)
    mixed = compress(g, nhwc(x[:128]), nhwc(x[128:]), activations="mixed", sram_budget=r16.chosen.peak_sram - 1)
    # all-16x8 does not fit; 16x8 from a cut point to the output does, and loses least (the output's precision
    # dominates here): int8 and int16 ops meet at a QUANTIZE
    assert 0 < len(mixed.chosen.wide) < len(r16.chosen.wide) and mixed.chosen.loss < r8.chosen.loss / 4
    assert any(op.kind is OpKind.QUANTIZE for op in mixed.graph.ops)
    check_exported(mixed.graph, nhwc(x[128:]), tmp_path / "mixed", n=3)
    with pytest.raises(TinymlError, match="--activations 'int4'"):
        compress(g, nhwc(x[:8]), activations="int4")


def _digits_search():
    """A small CNN on scikit-learn's digits and its data (NHWC): ~20 candidates with a flash budget."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    int8 = tinyml.quant.weight_bytes(tinyml.quantize(g, nhwc(x[:200])))
    return g, nhwc(x[:200]), nhwc(x[200:400]), d.target[200:400], int(0.6 * int8)


def _same(a, b) -> bool:
    return a.chosen.name == b.chosen.name and [(c.name, c.score, c.loss) for c in a.candidates] == \
        [(c.name, c.score, c.loss) for c in b.candidates]


def test_compress_cache_resumes_an_interrupted_search(tmp_path, monkeypatch):
    """Every evaluation is kept on disk: a search killed half-way, run again, recomputes none of what it had
    finished, and a repeated search reuses everything; the pick is the uncached one's."""
    import tinyml.quant.pool as pool
    from tinyml.quant.compress import compress
    g, calib, vx, vy, budget = _digits_search()
    plain = compress(g, calib, vx, vy, flash_budget=budget)
    assert plain.reused == 0 and plain.evaluated >= 12
    real, done = pool.outputs, []

    def dies(job, context):
        if len(done) == 5:
            raise KeyboardInterrupt  # the user's ^C, half-way through the sensitivity pass
        done.append(1)
        return real(job, context)
    monkeypatch.setattr(pool, "outputs", dies)
    with pytest.raises(KeyboardInterrupt):
        compress(g, calib, vx, vy, flash_budget=budget, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(pool, "outputs", real)
    resumed = compress(g, calib, vx, vy, flash_budget=budget, cache_dir=tmp_path / "cache")
    assert resumed.reused >= 5 + 1 and _same(resumed, plain)  # five outputs and the float reference
    again = compress(g, calib, vx, vy, flash_budget=budget, cache_dir=tmp_path / "cache")
    assert again.reused == again.evaluated == resumed.evaluated and _same(again, plain)
    # another budget shares the evaluations it has in common
    other = compress(g, calib, vx, vy, flash_budget=budget // 2 * 3, cache_dir=tmp_path / "cache")
    assert other.reused > 0


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_compress_workers_pick_what_a_serial_run_picks(backend, monkeypatch):
    """--workers 2 on a local process pool, or on a local Ray instance: the same candidates, scores and pick."""
    import tinyml.quant.pool as pool
    from tinyml.quant.compress import compress
    if backend == "ray":
        pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'tinyml[ray]'")
    else:
        monkeypatch.setattr(pool, "have_ray", lambda: False)
    g, calib, vx, vy, budget = _digits_search()
    serial = compress(g, calib, vx, vy, flash_budget=budget)
    parallel = compress(g, calib, vx, vy, flash_budget=budget, workers=2)
    assert _same(parallel, serial)


def test_compress_workers_and_ray_address_errors(tmp_path):
    """A Ray address nothing answers at, a malformed one and no workers: one readable line each, no file."""
    from tinyml.quant.pool import evaluator
    with pytest.raises(TinymlError, match="does not answer"):
        with evaluator((), 2, "127.0.0.1:1"):
            pass
    with pytest.raises(TinymlError, match="is not HOST:PORT"):
        with evaluator((), 2, "somewhere"):
            pass
    with pytest.raises(TinymlError, match="at least one worker"):
        with evaluator((), 0):
            pass


def test_compress_ray_address_without_ray(monkeypatch):
    """--ray-address at an address that answers, with Ray not installed: one line saying how to install it."""
    import socket
    import sys

    from tinyml.quant.pool import evaluator
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(TinymlError, match=r"needs Ray, which is not installed: pip install 'tinyml\[ray\]'"):
            with evaluator((), 2, f"127.0.0.1:{listener.getsockname()[1]}"):
                pass


def test_compress_cli_cache_and_workers(tmp_path):
    """From the command line: a repeated search says how much it reused from --cache-dir, --workers 2 picks the
    same, and a Ray address nothing answers at fails in one paragraph with no file written."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)).eval()
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    torch.export.save(torch.export.export(m, (torch.tensor(x[:1]),)), str(tmp_path / "net.pt2"))
    np.savez(tmp_path / "calib.npz", x=x[:100], y=d.target[:100])
    args = ["compress", "net.pt2", "--data", "calib.npz", "--bits", "mixed", "--cache-dir", "cache"]
    first = _tinyml(*args, "-o", "a.tflite", cwd=tmp_path)
    again = _tinyml(*args, "--workers", "2", "-o", "b.tflite", cwd=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert ", 0 of them reused" in first.stdout
    n = json.loads((tmp_path / "a.json").read_text())
    assert " of them reused from the cache" in again.stdout
    assert ", 0 of them reused" not in again.stdout
    assert json.loads((tmp_path / "b.json").read_text())["chosen"] == n["chosen"]
    r = _tinyml("compress", "net.pt2", "--data", "calib.npz", "--ray-address", "127.0.0.1:1", "-o", "c.tflite",
                cwd=tmp_path)
    assert r.returncode != 0 and "does not answer" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "c.tflite").exists()


def test_compress_tpe_search_is_reproducible_and_meets_the_budget():
    """--search tpe: per-layer widths sampled by Optuna's TPE under the flash budget; the same seed gives the same
    trials and pick (also with 2 workers), and the pick fits; int8 and int4 everywhere are among the trials."""
    pytest.importorskip("optuna", reason="the TPE search is an optional extra: pip install 'tinyml[search]'")
    from tinyml.quant.compress import compress
    g, calib, vx, vy, budget = _digits_search()
    a = compress(g, calib, vx, vy, flash_budget=budget, search="tpe", trials=16, seed=3)
    b = compress(g, calib, vx, vy, flash_budget=budget, search="tpe", trials=16, seed=3, workers=2)
    assert _same(a, b) and a.chosen.fits and a.chosen.weight_bytes <= budget
    names = [c.name for c in a.candidates]
    assert "int8" in names and "int4" in names and len(names) <= 16
    with pytest.raises(TinymlError, match="--search 'bayes'"):
        compress(g, calib, vx, vy, flash_budget=budget, search="bayes")


def test_compress_tpe_prunes_each_layer_on_its_own():
    """--search tpe where pruning is needed: each prunable convolution's ratio (0-75%) and each layer's width
    sampled together under the flash budget, every pruned network fine-tuned first; the uniform ratios the
    budget allows are among the trials; the same seed gives the same trials and pick; the pick fits."""
    pytest.importorskip("optuna", reason="the TPE search is an optional extra: pip install 'tinyml[search]'")
    from sklearn.datasets import load_digits

    from tinyml.quant.compress import compress
    from tinyml.quant.prune import prunable_chains
    g, calib, vx, vy, budget = _digits_search()
    budget = budget * 5 // 12  # a quarter of the int8 weights: int4 everywhere does not fit without pruning
    cy = load_digits().target[:200]
    runs = [compress(g, calib, vx, vy, flash_budget=budget, search="tpe", trials=10, seed=1, calib_y=cy,
                     finetune_epochs=1) for _ in range(2)]
    a = runs[0]
    assert _same(a, runs[1]) and a.chosen.fits and tinyml.quant.weight_bytes(a.graph) <= budget
    convs = {ch.producer for ch in prunable_chains(g)}
    layers = [dict(c.layers) for c in a.candidates]
    assert all(set(ls) <= convs for ls in layers)
    assert any(len(set(ls.values())) > 1 or set(ls) != convs for ls in layers if ls)  # not only uniform ratios
    assert {0.25, 0.5, 0.75} & {next(iter(ls.values())) for ls in layers if ls and set(ls) == convs
                                and len(set(ls.values())) == 1}
    assert a.chosen.layers and a.chosen.row()["prune_layers"]
