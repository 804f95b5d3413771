"""Every memory configuration the compiler can emit is bit-exact with TFLM, and the compiler proves it for what
it writes: `tinyml compile` checks the generated C against the reference executor before writing anything,
refuses wrong code with an internal error, and the budget search falls back to the next configuration."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SHARED_MODELS, needs_shared, needs_tflm
from oracle import tflm_run
from randnets import Block, Net, budget_picks, build, check_net, random_net

import tinyml
from tinyml.compiler import CompileOptions, analyze, compile_model
from tinyml.errors import TinymlError
from tinyml.harness.host import HostModel
from tinyml.memory.planner import PatchId
from tinyml.verify import VerificationError, graph_inputs

pytestmark = [needs_tflm()]
torch = pytest.importorskip("torch", reason="PyTorch is needed to export the PAD-heavy test nets: "
                                            "pip install '.[torch]'")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def mobilenet(h: int, weights: str = "int8") -> Net:
    """MobileNet-style, as PyTorch exports it: stride-2 convolutions with padding=1 (PAD + VALID convolutions,
    padded on one side at even sizes), depthwise-separable pairs, global average pool and a classifier."""
    return Net(1000 + h, "torch", h, h, 3, (
        Block("conv", out_c=8, k=3, stride=2, act="relu6"), Block("dw", k=3, act="relu6"), Block("pw", out_c=16),
        Block("dw", k=3, stride=2, act="relu6"), Block("pw", out_c=24, act="relu6"),
        Block("dw", k=3, stride=2, act="relu6"), Block("pw", out_c=16, act="relu6")), "gap_fc", 10, weights)


@pytest.fixture(scope="module")
def pad_heavy(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("padheavy")
    out = {}
    for name, net in (("odd47", mobilenet(47)), ("even64", mobilenet(64)), ("mixed40", mobilenet(40, "mixed"))):
        out[name] = d / f"{name}.tflite"
        out[name].write_bytes(build(net))
    return out


def _exact(model: Path, outdir: Path, seeds=(0, 1), **kw) -> dict:
    rep = tinyml.compile(model, outdir, verify=False, **kw)
    data = model.read_bytes()
    host = HostModel(outdir)
    g = analyze(data, model.name).graph
    for s in seeds:
        x = graph_inputs(g, s)
        assert np.array_equal(host.run(x)[0], tflm_run(data, x, 1)[0]), (model.name, kw, s)
    return rep


@pytest.mark.parametrize("name,kw", [
    ("odd47", dict(patch="2x1", patch_split=7, halos="recompute")),     # the split at a folded PAD's reader
    ("odd47", dict(patch="2x2", patch_split=5, halos="recompute", stream_input=True)),
    ("even64", dict(patch="4x4", patch_split=8, halos="recompute")),
    ("mixed40", dict(patch="3x1", patch_split=8, halos="recompute")),
])
def test_recomputed_halos_through_folded_pads(pad_heavy, tmp_path, name, kw):
    """Regression: a tensor read through a PAD folded into its convolution had its patch buffer freed at the PAD
    (the graph's consumer) instead of at the convolution that really reads it, so the next layer's patch
    buffer took its bytes while it was still being read (wrong outputs, max 13-144 LSB)."""
    rep = _exact(pad_heavy[name], tmp_path / "o", **kw)
    assert rep["memory"]["patch"]["halos"] == "recomputed" and rep["memory"]["folded_pads"]


def test_budget_picks_on_a_pad_heavy_net(pad_heavy, tmp_path):
    """What the issue saw: a budget (with a streamed input) makes the compiler pick recomputed patches; the
    pick is bit-exact now, with and without the self-check."""
    model = pad_heavy["even64"]
    for budget in (12000, 8000):
        rep = _exact(model, tmp_path / f"b{budget}", sram_budget=budget, stream_input=True)
        assert rep["peak_sram_bytes"] <= budget and rep["memory"]["patch"]
    rep = tinyml.compile(model, tmp_path / "checked", sram_budget=8000, stream_input=True)
    assert rep["verification"]["checked"] and not rep["verification"]["rejected"]


def test_schedule_checker_rejects_a_buffer_read_after_it_died(pad_heavy):
    """The planner proves that every kernel call touches only live buffers (it caught the bug above)."""
    from tinyml.compiler import lower, parse_tflite
    from tinyml.memory.planner import storage_roots
    from tinyml.memory.techniques import MemoryOptions, check_schedule
    from tinyml.memory.techniques import plan as plan_memory
    g = parse_tflite(pad_heavy["odd47"].read_bytes(), "odd47")
    mp = plan_memory(g, lower(g), MemoryOptions(patch=(2, 1), split=8))
    roots = storage_roots(g, mp.aliased_ops, mp.slices)
    check_schedule(g, mp.schedule, mp.buffers, roots)
    patch_bufs = [b for b in mp.buffers if isinstance(b.id, PatchId) and b.last > b.first]
    assert patch_bufs
    shortened = [replace(b, last=b.first) if b == patch_bufs[0] else b for b in mp.buffers]
    with pytest.raises(TinymlError, match="internal planner error"):
        check_schedule(g, mp.schedule, shortened, roots)


def _corrupt_model_c(monkeypatch, times: int | None = None):
    """Make the emitter write a wrong output zero point into the last layer's parameters (a stand-in for any
    compiler bug): every time, or the first `times` times it renders a model."""
    import codegen.emit as emit
    real = emit.render
    count = [0]

    def render(ctx, outdir):
        written = real(ctx, outdir)
        count[0] += 1
        if times is None or count[0] <= times:
            kernels = outdir / f"{ctx['prefix']}_kernels.c"
            if kernels.exists():  # the output stage of the last generated kernel: its values XOR 3
                text = kernels.read_text()
                i = text.rindex("#define TML_K_CLAMP(v) ") + len("#define TML_K_CLAMP(v) ")
                kernels.write_text(text[:i] + "(int8_t)3 ^ " + text[i:])
                return written
            p, key, end = outdir / f"{ctx['prefix']}.c", ".output_offset = ", ","  # the last layer's zero point
            text = p.read_text()
            i = text.rindex(key)
            j = text.index(end, i)
            p.write_text(text[:i] + f"{key}{int(text[i + len(key):j]) + 3}" + text[j:])
        return written
    monkeypatch.setattr("tinyml.compiler.render", render)


def test_compile_refuses_wrong_code(pad_heavy, tmp_path, monkeypatch):
    _corrupt_model_c(monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(VerificationError) as e:
        compile_model(pad_heavy["odd47"], out, CompileOptions(patch="2x2", patch_split=5, halos="recompute"))
    msg = str(e.value)
    assert "internal error, please report" in msg and "2x2 patches from op 0 to op 5, recomputed halos" in msg
    assert "differs from the reference executor" in msg and e.value.exit_code != 0
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, no temporary left
    compile_model(pad_heavy["odd47"], out, CompileOptions(patch="off", verify=False))  # unchecked: written


def test_budget_search_falls_back_to_the_next_configuration(pad_heavy, tmp_path, monkeypatch):
    """A configuration that fails the self-check is never returned: the next one the search would take is
    used, and report.json and the CLI say so."""
    model = pad_heavy["even64"]
    opts = CompileOptions(sram_budget=12000, stream_input=True)
    first = analyze(model.read_bytes(), model.name, opts).patch
    assert first is not None
    _corrupt_model_c(monkeypatch, times=1)
    rep = compile_model(model, tmp_path / "out", opts)
    ver = rep["verification"]
    assert len(ver["rejected"]) == 1 and "internal error" in ver["rejected"][0]["error"]
    assert f"{first.grid[0]}x{first.grid[1]} patches from op {first.stage.start}" in ver["rejected"][0]["configuration"]
    assert ver["configuration"] != ver["rejected"][0]["configuration"] and rep["peak_sram_bytes"] <= 12000
    x = graph_inputs(analyze(model.read_bytes(), model.name).graph, 0)
    assert np.array_equal(HostModel(tmp_path / "out").run(x)[0], tflm_run(model.read_bytes(), x, 1)[0])
    _corrupt_model_c(monkeypatch, times=1)  # and the CLI says so
    from tinyml.cli import main
    assert main([ "compile", str(model), "-o", str(tmp_path / "cli"), "--sram-budget", "12000",
                 "--stream-input"]) == 0


def test_cli_reports_the_self_check(pad_heavy, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tinyml", "compile", str(pad_heavy["odd47"]), "-o",
                        str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "checked against the reference executor on 2 random inputs" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tinyml", "compile", str(pad_heavy["odd47"]), "-o",
                        str(tmp_path / "b"), "--no-verify"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "NOT checked (--no-verify)" in r.stdout
    assert json.loads((tmp_path / "b" / "report.json").read_text())["verification"]["checked"] is False


def test_no_host_compiler_points_at_no_verify(pad_heavy, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(TinymlError, match="no host C compiler"):
        compile_model(pad_heavy["odd47"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    compile_model(pad_heavy["odd47"], tmp_path / "out", CompileOptions(verify=False))


# a fixed sample of the random differential test (benchmarks/verify_configs.py runs thousands of pairs)
SAMPLE_SEEDS = (1, 9, 13)


@pytest.mark.parametrize("seed", SAMPLE_SEEDS)
def test_random_nets_under_every_configuration(seed, tmp_path):
    """A random CNN compiled under every memory configuration the compiler offers (layer by layer, default,
    in-place/overlap off, every grid 2x2..4x4 and R x 1 with recomputed and cached halos at every split point,
    streamed inputs, budget picks), each bit-exact with TFLM."""
    net = random_net(seed)
    res = check_net(build(net), tmp_path)
    bad = [f"{r.label}: {r.status} {r.detail}" for r in res if r.status in ("MISMATCH", "INTERNAL")]
    assert not bad, f"{net.describe()}: " + "; ".join(bad)
    assert sum(r.status == "exact" for r in res) >= 25


@needs_shared()
def test_every_budget_pick_of_a_shared_model(tmp_path):
    """Every configuration the budget search can return for resnet8 (one budget per distinct pick) is bit-exact
    with TFLM (benchmarks/verify_configs.py --shared does this for every shared model, streamed inputs too)."""
    model = SHARED_MODELS / "pretrainedResnet_quant.tflite"
    data = model.read_bytes()
    picks = budget_picks(data, model.name)
    assert len(picks) >= 4
    g = analyze(data, model.name).graph
    x = graph_inputs(g, 0)
    want = tflm_run(data, x, 1)[0]
    seen = set()
    for n, (budget, opts) in enumerate(picks):
        rep = compile_model(model, tmp_path / f"p{n}", replace(opts, verify=False))
        seen.add(rep["verification"]["configuration"])
        assert rep["peak_sram_bytes"] <= budget
        assert np.array_equal(HostModel(tmp_path / f"p{n}").run(x)[0], want), budget
    assert len(seen) == len(picks)


QEMU = pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None
                          or __import__("shutil").which("qemu-system-arm") is None,
                          reason="needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (apt)")


@pytest.mark.firmware
@QEMU
@pytest.mark.parametrize("name,kw", [("odd47", dict(patch="2x2", patch_split=7, halos="recompute")),
                                     ("even64", dict(sram_budget=8000, stream_input=True)),
                                     ("mixed40", dict(sram_budget=3000, stream_input=True))])
def test_pad_heavy_configurations_on_qemu(pad_heavy, tmp_path, name, kw):
    """Recomputed halos and budget picks of PAD-heavy PyTorch nets run on the emulated Cortex-M4 exactly as
    TFLM computes (compared with TFLM here, and by emulate with the host build and the reference executor)."""
    from tinyml.harness.firmware import emulate
    model = pad_heavy[name]
    rep = tinyml.compile(model, tmp_path / "o", **kw)
    assert rep["memory"]["patch"] is not None and not rep["verification"]["rejected"]
    x = graph_inputs(analyze(model.read_bytes(), model.name).graph, 0)
    res = emulate(tmp_path / "o", "mps2-an386", x)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    assert np.array_equal(res["outputs"][0], tflm_run(model.read_bytes(), x, 1)[0])


@pytest.mark.firmware
@QEMU
def test_emulate_catches_code_that_equals_a_wrong_host_build(pad_heavy, tmp_path, monkeypatch):
    """Unchecked wrong code (--no-verify) runs the same on the host and the board: emulate still says it
    differs, from the reference executor, and exits 1."""
    _corrupt_model_c(monkeypatch)
    model = pad_heavy["odd47"]
    out = tmp_path / "o"
    compile_model(model, out, CompileOptions(patch="off", verify=False))
    monkeypatch.undo()
    x = graph_inputs(analyze(model.read_bytes(), model.name).graph, 0)
    np.save(tmp_path / "in.npy", x[0])
    r = subprocess.run([sys.executable, "-m", "tinyml", "emulate", str(out), "--board", "mps2-an386", "--input",
                        str(tmp_path / "in.npy"), "--output", str(tmp_path / "o.npz")], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 1 and "DIFFER from the reference executor" in r.stdout
    doc = json.loads((out / "emulation.json").read_text())
    assert doc["outputs_match_host"] is True and doc["outputs_match_reference"] is False
