"""Issue 4's memory techniques: in-place depthwise, overlapping buffers and patch-based inference.

Every configuration stays bit-exact with TFLM; the overlap gaps are checked against the real C kernels running on
overlapping pointers (hypothesis); plans are checked by the overlap checker; budgets fail clearly."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys

import cffi
import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, needs_tflm, shared_baseline
from helpers import assert_bit_exact
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml.compiler import CompileOptions, analyze, compile_model
from tinyml.errors import TinymlError
from tinyml.harness.host import find_cc
from tinyml.memory import Buffer, check_plan, plan_memory
from tinyml.memory.overlap import safe_gap
from tinyml.memory.patching import stages
from tinyml.params import ConvParams, Kernel, PoolParams
from tinyml.resources import runtime_dir

MODELS = [m["file"] for m in shared_baseline()] or ["(none)"]
BASE = {m["file"]: m for m in shared_baseline()}
CONFIGS = {"plain": dict(inplace=False, overlap=False), "inplace": dict(inplace=True, overlap=False),
           "overlap": dict(inplace=False, overlap=True)}


# ---------------------------------------------------------------- in-place / overlap on the shared models
@needs_shared()
@needs_tflm()
@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("name", MODELS)
def test_techniques_on_off_bit_exact(name, config, tmp_path):
    rep = assert_bit_exact(SHARED_MODELS / name, tmp_path / "out", seeds=(0,),
                           options=CompileOptions(**CONFIGS[config]))
    full = analyze((SHARED_MODELS / name).read_bytes(), name)
    bound = BASE[name]["max_layer_io_bytes"]
    assert rep["peak_sram_bytes"] <= bound + 3
    if config == "plain":
        assert not rep["memory"]["inplace_layers"] and not rep["memory"]["overlaps"]
    assert full.plan.peak <= rep["peak_sram_bytes"]


@needs_shared()
@pytest.mark.parametrize("name", MODELS)
def test_below_the_layer_io_bound_where_techniques_apply(name):
    """--patch off: at or below the max-layer-I/O bound everywhere, below it wherever in-place or overlapping
    applies to the layer that sets the bound."""
    c = analyze((SHARED_MODELS / name).read_bytes(), name)
    rep_bound = BASE[name]["max_layer_io_bytes"]
    assert c.plan.peak <= rep_bound
    g = c.graph
    roots = c.roots
    io = {k: sum(g.tensor(t).nbytes for t in {*g.activation_inputs(op), *op.outputs}) for k, op in enumerate(g.ops)}
    tight = [k for k, v in io.items() if v == rep_bound and g.ops[k].kind.value != "RESHAPE"]
    helped = {k for k in c.inplace_ops} | {k for k, op in enumerate(g.ops)
                                          if any((roots[op.outputs[0]], roots[t]) in c.plan.overlaps
                                                 for t in g.activation_inputs(op))}
    if all(k in helped for k in tight):
        assert c.plan.peak < rep_bound


@needs_tflm()
def test_pad_folded_into_the_convolutions(opplan_models, tmp_path):
    """Zero-copy PAD: no copy, no padded tensor in the arena, same bytes as TFLM."""
    model = opplan_models("pad_folded_into_conv")
    rep = assert_bit_exact(model, tmp_path / "out")
    pads = [la["index"] for la in rep["layers"] if la["op"] == "PAD"]
    assert pads and rep["memory"]["folded_pads"] == pads
    assert all(not rep["layers"][k]["kernels"] for k in pads)
    plain = assert_bit_exact(model, tmp_path / "plain", seeds=(0,), options=CompileOptions(inplace=False,
                                                                                              overlap=False))
    assert plain["peak_sram_bytes"] < plain["max_layer_io_bytes"]  # the padded tensors are never materialized


@needs_tflm()
def test_branch_order_lowers_the_peak(opplan_models, tmp_path):
    """Two branches interleaved (both 24-channel intermediates live at once) are run one after the other."""
    from dataclasses import replace as dc_replace

    from tinyml.frontends.tflite import load_tflite
    from tinyml.interpreter import run_reference
    from tinyml.memory.order import max_live_bytes, reorder
    model = opplan_models("two_branches")
    g = load_tflite(model)
    heads = [k for k, op in enumerate(g.ops) if g.inputs[0] in op.inputs]
    assert len(heads) == 2
    cons = g.consumers()
    seconds = [cons[g.ops[k].outputs[0]][0] for k in heads]
    rest = [k for k in range(len(g.ops)) if k not in heads + seconds]
    bad = dc_replace(g, ops=tuple(g.ops[k] for k in heads + seconds + rest))  # A1, B1, A2, B2, ...
    good = reorder(bad)
    n = len(g.ops)
    assert max_live_bytes(good, list(range(n))) < max_live_bytes(bad, list(range(n)))
    x = np.random.RandomState(0).randint(-128, 128, g.tensor(g.inputs[0]).shape).astype(np.int8)
    for a, b in zip(run_reference(good, [x]), run_reference(g, [x])):
        assert np.array_equal(a, b)
    assert_bit_exact(model, tmp_path / "out", seeds=(0,))


# ---------------------------------------------------------------- zero-copy concatenation
ZERO_COPY = {"concat_channels": 2, "concat_width": 2, "cnn_inception": 6, "dense_concat": 2}


@needs_tflm()
@pytest.mark.parametrize("case", sorted(ZERO_COPY))
def test_zero_copy_concatenation(case, opplan_models, tmp_path):
    """Producers write CONCATENATION inputs straight into the output's slices: no copy, no separate buffer, the
    same bytes as TFLM; an input that something else also reads keeps its copy."""
    model = opplan_models(case)
    rep = assert_bit_exact(model, tmp_path / "zc")
    copies = assert_bit_exact(model, tmp_path / "copies", seeds=(0,),
                              options=CompileOptions(zero_copy_concat=False))
    zc = rep["memory"]["zero_copy_concat"]
    assert len(zc) == ZERO_COPY[case] and not copies["memory"]["zero_copy_concat"]
    assert rep["peak_sram_bytes"] <= copies["peak_sram_bytes"]
    c = analyze(model.read_bytes(), model.name)
    g = c.graph
    for k, op in enumerate(g.ops):
        if op.kind.value != "CONCATENATION":
            continue
        y = op.outputs[0]
        sliced = [t for t in op.inputs if c.slices.get(t, (None,))[0] == y]
        assert len(c.kernels[k]) == len(op.inputs) - len(sliced)  # one copy per input not written in place
        spans = sorted((c.slices[t][1], g.tensor(t).nbytes) for t in sliced)
        assert all(0 <= o and o + n <= g.tensor(y).nbytes for o, n in spans)
    if case == "cnn_inception":
        stem = g.ops[1].outputs[0]  # read by every branch and by the first concatenation: copied
        assert stem not in c.slices
        assert rep["peak_sram_bytes"] < 0.75 * copies["peak_sram_bytes"]
        assert rep["peak_sram_bytes"] < rep["max_layer_io_bytes"]
        for name, opts in CONFIGS.items():
            assert_bit_exact(model, tmp_path / name, seeds=(1,), options=CompileOptions(**opts))
        assert_bit_exact(model, tmp_path / "patched", seeds=(1,), options=CompileOptions(patch="2x2"))


@needs_tflm()
@pytest.mark.firmware
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (apt)")
def test_zero_copy_concatenation_on_qemu(opplan_models, tmp_path):
    """The strided slices on a Cortex-M4 (QEMU mps2-an386): TFLM's bytes."""
    from helpers import input_specs
    from oracle import random_inputs, tflm_run

    from tinyml.frontends.tflite import parse_tflite
    from tinyml.harness.firmware import emulate
    model = opplan_models("cnn_inception")
    rep = compile_model(model, tmp_path / "out")
    assert len(rep["memory"]["zero_copy_concat"]) == ZERO_COPY["cnn_inception"]
    g = parse_tflite(model.read_bytes(), model.name)
    xs = random_inputs(input_specs(g), 3)
    res = emulate(tmp_path / "out", "mps2-an386", xs)
    assert res["outputs_match_host"]
    want = tflm_run(model.read_bytes(), xs, len(g.outputs))
    assert np.array_equal(res["outputs"][0].reshape(-1), want[0].reshape(-1))


# ---------------------------------------------------------------- patch-based inference
PATCH_CASES = [("person_detect.tflite", "2x2", None), ("person_detect.tflite", "3x3", None),
               ("person_detect.tflite", "4x4", None), ("person_detect.tflite", "4x1", None),
               ("person_detect.tflite", "2x2", 1), ("person_detect.tflite", "3x3", 5),
               ("person_detect.tflite", "2x2", 11), ("vww_96_int8.tflite", "2x2", None),
               ("vww_96_int8.tflite", "3x3", None), ("vww_96_int8.tflite", "4x4", 7),
               ("pretrainedResnet_quant.tflite", "2x2", None), ("pretrainedResnet_quant.tflite", "4x4", 7),
               ("kws_ref_model.tflite", "2x2", None), ("kws_ref_model.tflite", "5x1", 4)]


@needs_shared()
@needs_tflm()
@pytest.mark.parametrize("name,grid,split", PATCH_CASES, ids=[f"{n.split('.')[0]}-{g}-{s}" for n, g, s in PATCH_CASES])
def test_patch_based_inference_bit_exact(name, grid, split, tmp_path):
    if name not in BASE:
        pytest.skip(f"{name} is not among the shared models")
    rep = assert_bit_exact(SHARED_MODELS / name, tmp_path / "out", seeds=(0, 1),
                           options=CompileOptions(patch=grid, patch_split=split))
    pt = rep["memory"]["patch"]
    assert pt is not None and pt["grid"] == grid and pt["patches"] == int(grid[0]) * int(grid[2])
    if split is not None:
        assert pt["split"] == split
    assert pt["extra_macs"] >= 0
    # every patch of every stage layer is profiled as that layer
    assert rep["schedule"].count(pt["split"]) == pt["patches"]


@needs_tflm()
@pytest.mark.parametrize("case", ["cnn_mobilenet", "cnn_residual", "cnn_valid_dilated"])
def test_patch_grids_and_splits_on_small_cnns(case, opplan_models, tmp_path):
    """Every valid split point with a 2x2 grid, and 3x3/4x4 where the split output is large enough."""
    model = opplan_models(case)
    c = analyze(model.read_bytes(), model.name)
    from tinyml.lower import lower
    sts = stages(c.graph, lower(c.graph))
    assert sts, f"{case} should have a patchable first stage"
    for st_ in sts:
        for grid in ("2x2", "3x3", "4x4", "3x1"):
            h, w = c.graph.tensor(st_.banded).shape[1:3]
            r, col = int(grid[0]), int(grid[2])
            if st_.reduced is not None:  # a stage that ends at its classifier runs in whole-row bands
                r, col, grid = (r, 1, f"{r}x1") if grid in ("2x2", "3x3") else (0, 0, grid)
            if not r or r > h or col > w or (grid not in ("2x2", "2x1") and st_ is not sts[-1]):
                continue
            rep = assert_bit_exact(model, tmp_path / f"out_{st_.split}_{grid}", seeds=(0,),
                                   options=CompileOptions(patch=grid, patch_split=st_.split))
            assert rep["memory"]["patch"]["split"] == st_.split


CACHE_CASES = [("person_detect.tflite", "12x1", 3), ("person_detect.tflite", "48x1", 1),
               ("pretrainedResnet_quant.tflite", "32x1", 3), ("pretrainedResnet_quant.tflite", "8x1", 11),
               ("kws_ref_model.tflite", "25x1", 1), ("str_ww_ref_model.tflite", "14x1", 1),
               ("vww_96_int8.tflite", "24x1", 3)]


@needs_shared()
@needs_tflm()
@pytest.mark.parametrize("stream", [False, True], ids=["arena-input", "streamed-input"])
@pytest.mark.parametrize("name,grid,split", CACHE_CASES, ids=[f"{n.split('.')[0]}-{g}-{s}" for n, g, s in CACHE_CASES])
def test_cached_halos_bit_exact(name, grid, split, stream, tmp_path):
    """Whole-row bands that keep their halos in window buffers (each stage row computed once): bit-exact with TFLM,
    no extra MACs, every band profiled as its layers."""
    if name not in BASE:
        pytest.skip(f"{name} is not among the shared models")
    rep = assert_bit_exact(SHARED_MODELS / name, tmp_path / "out", seeds=(0, 1),
                           options=CompileOptions(patch=grid, patch_split=split, halos="cache", stream_input=stream))
    pt = rep["memory"]["patch"]
    assert pt["halos"] == "cached" and pt["grid"] == grid and pt["split"] == split
    assert pt["extra_macs"] <= 0 and pt["streamed_input"] == (0 if stream else None)
    assert rep["schedule"].count(split) >= int(grid.split("x")[0])  # one block per pipeline step that computes
    # every window buffer lives through the whole stage; the stage's inner tensors have no full-size buffer
    windows = [b for b in rep["memory"]["buffers"] if b["tensor"].startswith("patch:")]
    assert windows and all((b["first"], b["last"]) == (pt["start"], split) for b in windows)


@needs_tflm()
@pytest.mark.parametrize("case", ["cnn_mobilenet", "cnn_residual", "cnn_valid_dilated", "cnn_inception"])
def test_cached_halos_on_small_cnns(case, opplan_models, tmp_path):
    """Every split point, bands of one row and two bands, the input in the arena and streamed: bit-exact."""
    model = opplan_models(case)
    c = analyze(model.read_bytes(), model.name)
    from tinyml.lower import lower
    sts = stages(c.graph, lower(c.graph))
    if not sts:
        pytest.skip(f"{case} has no patch stage")
    n = 0
    for st_ in sts:
        h = c.graph.tensor(st_.banded).shape[1]
        for rows in sorted({2, h}):
            for stream in (False, True):
                if rows < 2:
                    continue
                try:
                    rep = assert_bit_exact(model, tmp_path / f"o{st_.split}_{rows}_{stream}", seeds=(0,),
                                           options=CompileOptions(patch=f"{rows}x1", patch_split=st_.split,
                                                                  halos="cache", stream_input=stream))
                except TinymlError as e:  # streaming needs a stage that starts at a model input
                    assert stream and "stream" in str(e)
                    continue
                assert rep["memory"]["patch"]["halos"] == "cached" and rep["memory"]["patch"]["extra_macs"] <= 0
                n += 1
    assert n >= 2


@needs_tflm()
@pytest.mark.parametrize("case", ["cnn_flatten_dense", "cnn_avgpool_dense", "cnn_mobilenet"])
def test_stage_ends_at_the_classifier(case, opplan_models, tmp_path):
    """A patch stage that goes on to its classifier (FULLY_CONNECTED after a flatten, a full-size average pool, a
    MEAN over H and W) sums it band by band into int32 accumulators: bit-exact for every band count, cached and
    recomputed halos, the input in the arena and streamed; the feature map never exists whole."""
    model = opplan_models(case)
    c = analyze(model.read_bytes(), model.name)
    from tinyml.lower import lower
    sts = [s for s in stages(c.graph, lower(c.graph)) if s.reduced is not None]
    assert sts, f"{case} should have a stage that ends at its classifier"
    st_ = sts[-1]
    kind = c.graph.ops[st_.split].kind.value
    assert kind == {"cnn_flatten_dense": "FULLY_CONNECTED", "cnn_avgpool_dense": "AVERAGE_POOL_2D",
                    "cnn_mobilenet": "MEAN"}[case]
    h = c.graph.tensor(st_.reduced).shape[1]
    for rows in sorted({2, 3, h}):
        for halos in ("cache", "recompute"):
            for stream in (False, True):
                rep = assert_bit_exact(model, tmp_path / f"o{rows}_{halos}_{stream}", seeds=(0, 1),
                                       options=CompileOptions(patch=f"{rows}x1", patch_split=st_.split, halos=halos,
                                                              stream_input=stream))
                pt = rep["memory"]["patch"]
                assert pt["split"] == st_.split and pt["reduced_tensor"] == c.graph.tensor(st_.reduced).name
                assert rep["schedule"].count(st_.split) >= rows
                names = {b["tensor"] for b in rep["memory"]["buffers"]}
                assert c.graph.tensor(st_.reduced).name not in names  # only its band windows exist
                acc = [b for b in rep["memory"]["buffers"] if b["tensor"] == f"patch:{c.graph.tensor(st_.output).name}"]
                assert len(acc) == 1 and acc[0]["offset"] % 4 == 0
    with pytest.raises(TinymlError, match="R x 1"):
        analyze(model.read_bytes(), model.name, CompileOptions(patch="2x2", patch_split=st_.split))


@needs_shared()
def test_default_compile_caches_halos_where_that_lowers_the_peak():
    """No budget: the lowest peak with no extra MACs. person_detect, resnet8 and vww run their first stage in
    bands with cached halos, kws all of its convolutions up to the average pool (well below layer by layer);
    models where bands do not help stay layer by layer."""
    for name, band in (("person_detect.tflite", True), ("pretrainedResnet_quant.tflite", True),
                       ("vww_96_int8.tflite", True), ("kws_ref_model.tflite", True), ("ad01_int8.tflite", False)):
        if name not in BASE:
            continue
        data = (SHARED_MODELS / name).read_bytes()
        c = analyze(data, name)
        off = analyze(data, name, CompileOptions(patch="off"))
        assert c.plan.peak <= off.plan.peak
        assert (c.patch is not None) == band, name
        if band and name == "vww_96_int8.tflite":
            # the 27,648-byte input is in the arena: the split output (9,216 bytes) is written over input rows
            # already consumed, even though the last bands read no new input rows
            out_bytes = c.graph.tensor(c.patch.stage.output).nbytes
            assert c.patch.cached and c.patch.input_gap < out_bytes and c.plan.peak < 0.95 * off.plan.peak
        elif band:
            assert c.patch.cached and c.patch.extra_macs <= 0 and c.plan.peak <= 0.8 * off.plan.peak
        assert analyze(data, name, CompileOptions(halos="recompute")).patch is None


@needs_shared()
def test_band_search_stops_pipelines_that_cannot_win():
    """patch_options with `below` abandons a cached-halo pipeline as soon as its window buffers and the split
    output reach `below` (they only grow): the same configurations, in the same order, as planning every one and
    filtering afterwards."""
    from tinyml.memory import techniques
    from tinyml.memory.patching import plan_patches, stages
    name = "person_detect.tflite"
    if name not in BASE:
        pytest.skip(f"{name} is not among the shared models")
    c = analyze((SHARED_MODELS / name).read_bytes(), name, CompileOptions(patch="off"))
    from tinyml.lower import lower
    g, kernels = c.graph, lower(c.graph)
    folded_kernels, _ = techniques.fold_pads(g, kernels)
    below = c.plan.peak
    opts = dataclasses.replace(CompileOptions().memory_options(), halos="cache", search=0)
    got = techniques._patch_options(g, kernels, opts, below=below)
    want = []
    for st_ in stages(g, folded_kernels):
        for rows in range(2, g.tensor(st_.banded).shape[1] + 1):
            pp = plan_patches(g, folded_kernels, st_, (rows, 1), False, True)
            if pp is not None and sum(b.size for b in pp.buffers) + g.tensor(st_.output).nbytes < below:
                want.append((st_.split, rows))
    assert want and [(m.patch.stage.split, m.patch.grid[0]) for m in got] == want


@needs_shared()
@needs_tflm()
def test_pipeline_steady_state_is_one_loop(tmp_path):
    """kws by default: the steady state of its row pipeline is emitted as one loop, bit-exact with TFLM."""
    if "kws_ref_model.tflite" not in BASE:
        pytest.skip("kws_ref_model.tflite is not among the shared models")
    rep = assert_bit_exact(SHARED_MODELS / "kws_ref_model.tflite", tmp_path / "out", seeds=(0,))
    src = (tmp_path / "out" / "model.c").read_text()
    assert rep["memory"]["patch"]["halos"] == "cached" and "for (int32_t i = 0; i < " in src


def test_fold_needs_equal_offset_steps():
    """Blocks become a loop only when they repeat with the same kernels and structs and every offset moves by
    the same step each time; anything else stays straight-line, in the same order."""
    from codegen.emit import Arg, _fold

    def block(k, off, params="p"):
        return {"index": k, "op": "CONV_2D", "name": "c", "alias": False, "patch": 1,
                "calls": [{"func": "f", "params": params, "args": [Arg(offset=off), Arg("w")]}]}
    linear = [block(0, 10 * j) for j in range(5)]
    groups = _fold(linear)
    assert len(groups) == 1 and groups[0]["loop"] == 5
    assert groups[0]["blocks"][0]["calls"][0]["args"] == [{"arg": Arg(offset=0), "step": 10},
                                                          {"arg": Arg("w"), "step": 0}]
    bent = [block(0, o) for o in (0, 10, 20, 35, 40)]
    assert [g["loop"] for g in _fold(bent)] == [3, 0, 0]
    other = [block(0, 10 * j, "p" if j != 2 else "q") for j in range(5)]
    assert all(g["loop"] == 0 for g in _fold(other))
    two = [block(k, 10 * j + k) for j in range(4) for k in (0, 1)]  # a period of two blocks
    groups = _fold(two)
    assert len(groups) == 1 and groups[0]["loop"] == 4 and [b["index"] for b in groups[0]["blocks"]] == [0, 1]


def test_cached_halos_need_row_bands():
    m = SHARED_MODELS / "person_detect.tflite"
    if not m.exists():
        pytest.skip("person_detect.tflite is not among the shared models")
    with pytest.raises(TinymlError, match="R x 1"):
        analyze(m.read_bytes(), m.name, CompileOptions(patch="2x2", halos="cache"))


@needs_shared()
def test_patching_meets_the_issue_targets_on_person_detect():
    """person_detect, all techniques: <= 25% of TFLM's whole arena with <= 20% extra MACs (4x4 patches)."""
    m = BASE.get("person_detect.tflite")
    if m is None:
        pytest.skip("person_detect.tflite is not among the shared models")
    c = analyze((SHARED_MODELS / m["file"]).read_bytes(), m["file"], CompileOptions(patch="4x4"))
    assert c.plan.peak <= 0.25 * m["tflm_arena_used_bytes"]
    assert c.patch is not None and c.patch.extra_macs <= 0.20 * m["macs"]


@needs_shared()
@needs_tflm()
@pytest.mark.parametrize("name", ["vww_96_int8.tflite", "person_detect.tflite"])
def test_streamed_input_meets_the_issue_targets(name, tmp_path):
    """--stream-input: the first stage gathers each patch's input region from memory the application owns (flash,
    a camera frame buffer) instead of holding the whole input in the arena. <= 25% of TFLM's whole arena with
    <= 20% extra MACs, bit-exact."""
    m = BASE.get(name)
    if m is None:
        pytest.skip(f"{name} is not among the shared models")
    rep = assert_bit_exact(SHARED_MODELS / name, tmp_path / "out", seeds=(0, 1),
                           options=CompileOptions(stream_input=True))
    pt = rep["memory"]["patch"]
    assert rep["inputs"][0]["streamed"] and pt["streamed_input"] == 0
    assert rep["peak_sram_bytes"] <= 0.25 * m["tflm_arena_used_bytes"]
    assert pt["extra_macs"] <= 0.20 * m["macs"]
    assert "model_set_input_source" in (tmp_path / "out" / "model.h").read_text()


# ---------------------------------------------------------------- budgets
def _tinyml(*args):
    return subprocess.run([sys.executable, "-m", "tinyml", *map(str, args)], capture_output=True, text=True)


@needs_shared()
@needs_tflm()
def test_budget_picks_patching_when_layer_by_layer_does_not_fit(tmp_path):
    name = "person_detect.tflite"
    out = tmp_path / "out"
    r = _tinyml("compile", SHARED_MODELS / name, "-o", out, "--sram-budget", 30000)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["peak_sram_bytes"] <= 30000 and rep["memory"]["patch"] is not None
    assert "patches" in r.stdout
    # and it is still TFLM's result (the seed-0 output in the shared models' baseline)
    from oracle import random_inputs

    from tinyml.harness.host import HostModel
    m = next(m for m in shared_baseline() if m["file"] == name)
    xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], 0)
    got = HostModel(out).run(xs)
    assert [o.reshape(-1).tolist() for o in got] == m["tflm_output_seed0"]


@needs_shared()
def test_board_sram_is_the_default_budget(tmp_path):
    """vww needs 37 KB layer by layer; on a board with 40 KB of SRAM (the user's own board file), of which the
    firmware's stack and data take 8,256 bytes, tinyml patches the first stage to fit the remaining 32,704, and
    `tinyml build` then fits the board (it counts the same stack)."""
    from tinyml.boards import FIRMWARE_RAM_BYTES, STACK_BYTES, load_board
    board = tmp_path / "my-m4.toml"
    board.write_text('name = "my-m4"\ncore = "cortex-m4"\nfpu = "fpv4-sp-d16"\ndsp = true\nclock_hz = 80000000\n'
                     'console = "semihosting"\n[memory.flash]\nbase = 0x08000000\nsize = 524288\n'
                     '[memory.sram]\nbase = 0x20000000\nsize = 40960\narena = true\n')
    budget = 40960 - STACK_BYTES - FIRMWARE_RAM_BYTES
    assert load_board(str(board)).arena_budget == budget
    rep = compile_model(SHARED_MODELS / "vww_96_int8.tflite", tmp_path / "out", CompileOptions(board=str(board)))
    assert rep["peak_sram_bytes"] <= budget < 36888 and rep["memory"]["patch"] is not None
    assert rep["board"]["arena_budget_bytes"] == budget
    if shutil.which("arm-none-eabi-gcc"):
        from tinyml.harness.firmware import build
        fw = build(tmp_path / "out", str(board))
        assert fw.ram_used <= 40960


@needs_shared()
def test_infeasible_budget_is_a_clear_error(tmp_path):
    out = tmp_path / "out"
    r = _tinyml("compile", SHARED_MODELS / "kws_ref_model.tflite", "-o", out, "--sram-budget", 1000)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    msg = r.stderr
    assert "cannot fit --sram-budget 1,000" in msg and "smallest peak" in msg and "What would help" in msg
    assert "layer" in msg and "--stream-input" in msg and "still above the budget" in msg
    assert not out.exists()
    r = _tinyml("compile", SHARED_MODELS / "kws_ref_model.tflite", "-o", out, "--sram-budget", 6000)
    assert r.returncode != 0 and "--stream-input, which leaves the model input" in r.stderr  # only streaming fits
    assert "which fits" in r.stderr
    r = _tinyml("compile", SHARED_MODELS / "hello_world_int8.tflite", "-o", out, "--patch", "2x2")
    assert r.returncode != 0 and "no patch stage" in r.stderr and "Traceback" not in r.stderr
    r = _tinyml("compile", SHARED_MODELS / "hello_world_int8.tflite", "-o", out, "--stream-input")
    assert r.returncode != 0 and "stream" in r.stderr and "Traceback" not in r.stderr
    r = _tinyml("compile", SHARED_MODELS / "vww_96_int8.tflite", "-o", out, "--stream-input", "--patch", "off")
    assert r.returncode != 0 and "--stream-input needs patch-based inference" in r.stderr
    r = _tinyml("compile", SHARED_MODELS / "vww_96_int8.tflite", "-o", out, "--patch", "banana")
    assert r.returncode != 0 and "not auto, off or a grid" in r.stderr
    assert not out.exists()


@needs_shared()
def test_report_has_the_memory_timeline(tmp_path):
    rep = compile_model(SHARED_MODELS / "person_detect.tflite", tmp_path / "out", CompileOptions(patch="3x3"))
    mem = rep["memory"]
    assert len(mem["timeline"]) == len(rep["layers"])
    assert max(s["arena_top"] for s in mem["timeline"]) == rep["peak_sram_bytes"]
    for s in mem["timeline"]:
        for b in s["live"]:
            assert 0 <= b["offset"] and b["offset"] + b["bytes"] <= rep["peak_sram_bytes"]
    assert any(b["buffer"].startswith("patch:") for s in mem["timeline"] for b in s["live"])
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in html and "memory" in html.lower()


# ---------------------------------------------------------------- overlap gaps on the real C kernels
def _from_header(structs: tuple[str, ...], funcs: tuple[str, ...]) -> str:
    """cffi declarations cut from runtime_c/include/tml_nn.h itself, so the test never drifts from the header."""
    text = (runtime_dir() / "include" / "tml_nn.h").read_text()
    parts = [re.search(r"typedef struct \{[^}]*\} " + s + ";", text) for s in structs]
    parts += [re.search(r"void " + f + r"\([^;]*\);", text) for f in funcs]
    assert all(parts), "tml_nn.h no longer declares what this test calls"
    return "\n".join(m.group(0) for m in parts if m)


CDEF = _from_header(("tml_conv_params", "tml_pool_params"),
                    ("tml_conv_s8", "tml_depthwise_conv_s8", "tml_depthwise_conv_inplace_s8", "tml_avgpool_s8",
                     "tml_maxpool_s8"))


@pytest.fixture(scope="module")
def ckernels(tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels")
    src = runtime_dir() / "src"
    files = ["tml_conv_s8.c", "tml_depthwise_conv_s8.c", "tml_depthwise_conv_inplace_s8.c", "tml_avgpool_s8.c",
             "tml_maxpool_s8.c", "tml_fixedpoint.c"]
    lib = d / "libk.so"
    subprocess.run([find_cc(), "-std=c99", "-O1", "-fPIC", "-shared", "-I", str(runtime_dir() / "include"),
                    *[str(src / f) for f in files], "-o", str(lib), "-lm"], check=True)
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(str(lib))


@st.composite
def window_layers(draw):
    kind = draw(st.sampled_from(["conv", "dw", "avg", "max"]))
    in_h, in_w, in_c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 6))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    d_h, d_w = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind in ("conv", "dw") else (1, 1)
    p_h, p_w = draw(st.integers(0, k_h - 1)), draw(st.integers(0, k_w - 1))
    out_h = max(1, (in_h + 2 * p_h - d_h * (k_h - 1) - 1) // s_h + 1)
    out_w = max(1, (in_w + 2 * p_w - d_w * (k_w - 1) - 1) // s_w + 1)
    dm = draw(st.integers(1, 2)) if kind == "dw" else 1
    out_c = draw(st.integers(1, 8)) if kind == "conv" else in_c * dm
    return dict(kind=kind, in_h=in_h, in_w=in_w, in_c=in_c, k_h=k_h, k_w=k_w, s_h=s_h, s_w=s_w, d_h=d_h, d_w=d_w,
                p_h=p_h, p_w=p_w, out_h=out_h, out_w=out_w, out_c=out_c, dm=dm, seed=draw(st.integers(0, 2**31)))


def _params(L, rs):
    if L["kind"] in ("avg", "max"):
        return PoolParams(1, L["in_h"], L["in_w"], L["in_c"], L["out_h"], L["out_w"], L["k_h"], L["k_w"], L["s_h"],
                          L["s_w"], L["p_h"], L["p_w"], -128, 127)
    oc = L["out_c"]
    return ConvParams(1, L["in_h"], L["in_w"], L["in_c"], L["out_h"], L["out_w"], oc, L["k_h"], L["k_w"],
                      L["in_c"] if L["kind"] == "conv" else 1, L["dm"], L["s_h"], L["s_w"], L["d_h"], L["d_w"],
                      L["p_h"], L["p_w"], int(rs.randint(-127, 129)), int(rs.randint(-128, 128)), -128, 127,
                      tuple(int(v) for v in rs.randint(1 << 30, (1 << 31) - 1, oc)),
                      tuple(int(v) for v in rs.randint(-10, 1, oc)))


def _run(ffi, lib, L, p, x, w, b, arena_size, in_off, out_off, inplace=False):
    arena = ffi.new("int8_t[]", arena_size)
    ffi.memmove(arena + in_off, x.tobytes(), x.nbytes)
    keep = []
    if isinstance(p, PoolParams):
        cp = ffi.new("tml_pool_params *", {f.name: getattr(p, f.name) for f in dataclasses.fields(p)})
        getattr(lib, "tml_avgpool_s8" if L["kind"] == "avg" else "tml_maxpool_s8")(cp, arena + in_off,
                                                                                    arena + out_off)
    else:
        fields = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.name not in ("multiplier", "shift")}
        mult, shift = ffi.new("int32_t[]", list(p.multiplier)), ffi.new("int32_t[]", list(p.shift))
        keep += [mult, shift]
        cp = ffi.new("tml_conv_params *", {**fields, "multiplier": mult, "shift": shift})
        wf, bf = ffi.new("int8_t[]", w.tolist()), ffi.new("int32_t[]", b.tolist())
        if inplace:
            plane = ffi.new("int8_t[]", p.in_h * p.in_w)
            lib.tml_depthwise_conv_inplace_s8(cp, arena + in_off, wf, bf, plane, arena + out_off)
        else:
            fn = lib.tml_conv_s8 if L["kind"] == "conv" else lib.tml_depthwise_conv_s8
            fn(cp, arena + in_off, wf, bf, arena + out_off)
    n = p.out_h * p.out_w * (p.out_c if isinstance(p, ConvParams) else p.channels)
    return np.frombuffer(bytes(ffi.buffer(arena + out_off, n)), np.int8)


@settings(max_examples=150, deadline=None)
@given(window_layers())
def test_overlap_gap_is_safe_on_the_c_kernels(ckernels, L):
    """Output placed `safe_gap` bytes below the input and growing into it gives the same bytes as separate
    buffers; depthwise with multiplier 1 also runs fully in place."""
    ffi, lib = ckernels
    rs = np.random.RandomState(L["seed"] % (2**31))
    p = _params(L, rs)
    x = rs.randint(-128, 128, L["in_h"] * L["in_w"] * L["in_c"]).astype(np.int8)
    if L["kind"] == "conv":
        w = rs.randint(-127, 128, L["out_c"] * L["k_h"] * L["k_w"] * L["in_c"]).astype(np.int8)
    else:
        w = rs.randint(-127, 128, L["k_h"] * L["k_w"] * L["out_c"]).astype(np.int8)
    b = rs.randint(-5000, 5000, L["out_c"]).astype(np.int32)
    out_n = p.out_h * p.out_w * L["out_c"]
    ref = _run(ffi, lib, L, p, x, w, b, x.nbytes + out_n, 0, x.nbytes)
    func = {"dw": "tml_depthwise_conv_s8", "conv": "tml_conv_s8", "avg": "tml_avgpool_s8", "max": "tml_maxpool_s8"}
    gap = safe_gap(Kernel(func[L["kind"]], p, ()), 0)
    assert gap is not None and 0 <= gap <= out_n
    got = _run(ffi, lib, L, p, x, w, b, max(gap + x.nbytes, out_n), gap, 0)
    assert np.array_equal(got, ref), f"gap {gap} is not safe for {L}"
    if L["kind"] == "dw" and L["dm"] == 1:
        got = _run(ffi, lib, L, p, x, w, b, max(x.nbytes, out_n), 0, 0, inplace=True)
        assert np.array_equal(got, ref)


def _dsp_depthwise_events(p: ConvParams, pairs: bool):
    """The byte-level order of the dsp depthwise kernel (codegen/templates/kernels/depthwise.c.j2): per output
    pixel, each group of four channels reads its window's words then writes its four outputs, the channels past
    the last group one by one; with `pairs`, two inside neighbours of a row together (`_in2`): per group the even
    lanes of both windows then their outputs, the odd lanes likewise. Yields ("r", input offsets) and ("w",
    output offsets) in program order."""
    c = p.in_c
    c4 = c - c % 4

    def window(oy, ox, chans):
        iy0, ix0 = oy * p.stride_h - p.pad_h, ox * p.stride_w - p.pad_w
        return [((iy0 + ky * p.dil_h) * p.in_w + ix0 + kx * p.dil_w) * c + ch for ky in range(p.k_h)
                for kx in range(p.k_w) for ch in chans
                if 0 <= iy0 + ky * p.dil_h < p.in_h and 0 <= ix0 + kx * p.dil_w < p.in_w]

    def out(oy, ox, chans):
        return [(oy * p.out_w + ox) * c + ch for ch in chans]

    for oy in range(p.out_h):
        iy0 = oy * p.stride_h - p.pad_h
        rows_in = iy0 >= 0 and iy0 + (p.k_h - 1) * p.dil_h < p.in_h
        ox = 0
        while ox < p.out_w:
            ix0 = ox * p.stride_w - p.pad_w
            inside = rows_in and ix0 >= 0 and ix0 + (p.k_w - 1) * p.dil_w < p.in_w
            if pairs and inside and ox + 1 < p.out_w and ix0 + p.stride_w + p.k_w - 1 < p.in_w:
                for g in range(0, c4, 4):
                    for lane in (0, 1):
                        yield "r", window(oy, ox, range(g, g + 4)) + window(oy, ox + 1, range(g, g + 4))
                        yield "w", out(oy, ox, (g + lane, g + lane + 2)) + out(oy, ox + 1, (g + lane, g + lane + 2))
                for ch in range(c4, c):
                    for px in (ox, ox + 1):
                        yield "r", window(oy, px, [ch])
                        yield "w", out(oy, px, [ch])
                ox += 2
                continue
            for g in range(0, c4, 4):
                yield "r", window(oy, ox, range(g, g + 4))
                yield "w", out(oy, ox, range(g, g + 4))
            for ch in range(c4, c):
                yield "r", window(oy, ox, [ch])
                yield "w", out(oy, ox, [ch])
            ox += 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 7), st.integers(1, 9), st.integers(1, 10), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 2), st.integers(1, 2), st.integers(0, 2), st.integers(0, 2))
def test_depthwise_gap_holds_for_pairs_of_pixels(in_h, in_w, ch, k_h, k_w, s_h, s_w, p_h, p_w):
    """The overlap analysis of the depthwise kernels (access.depthwise), with block 2 where the dsp kernel takes
    inside neighbours two at a time (strides 1 and 2 across): at the gap it gives, no byte the kernel writes is read
    after the write (replayed byte by byte in the kernel's order, single pixels and pairs alike)."""
    p_h, p_w = min(p_h, k_h - 1), min(p_w, k_w - 1)
    out_h = (in_h + 2 * p_h - k_h) // s_h + 1
    out_w = (in_w + 2 * p_w - k_w) // s_w + 1
    if out_h < 1 or out_w < 1:
        return
    p = ConvParams(1, in_h, in_w, ch, out_h, out_w, ch, k_h, k_w, 1, 1, s_h, s_w, 1, 1, p_h, p_w, 0, 0, -128, 127,
                   (1 << 30,) * ch, (-1,) * ch)
    for pairs in (False, True):
        gap = safe_gap(Kernel("tml_depthwise_conv_s8", p, ()), 0, 2 if pairs else 1)
        assert gap is not None
        events = list(_dsp_depthwise_events(p, pairs))
        later_reads: set[int] = set()
        for kind, offsets in reversed(events):  # a write at output offset o lands on input byte o - gap
            if kind == "r":
                later_reads.update(offsets)
            else:
                assert not later_reads & {o - gap for o in offsets}, (p, pairs, gap)


WIDTH_CDEF = """
typedef struct { int32_t rows, depth, input_multiplier, input_left_shift, diff_min; } tml_softmax_params;
typedef struct { int32_t size, input_zp, output_zp, multiplier, shift, act_min, act_max; } tml_requantize_params;
void tml_softmax_s8(const tml_softmax_params *p, const int8_t *input, int8_t *output);
void tml_softmax_s8_s16(const tml_softmax_params *p, const int8_t *input, int16_t *output);
void tml_requantize_s8_s32(const tml_requantize_params *p, const int8_t *input, int32_t *output);
void tml_requantize_s32_s8(const tml_requantize_params *p, const int32_t *input, int8_t *output);
"""


def test_in_order_gap_only_where_outputs_are_no_wider(tmp_path):
    """An element-wise kernel may write its output over its input (gap 0) only where each output element is no
    wider than the input's: SOFTMAX int8 -> int8 and a narrowing requantization give their own bytes in place,
    while SOFTMAX int8 -> int16 and int8 -> int32 would overwrite input not read yet, and their registry rows give
    no gap."""
    from tinyml.params import RequantizeParams, SoftmaxParams
    src = runtime_dir() / "src"
    lib_path = tmp_path / "libw.so"
    subprocess.run([find_cc(), "-std=c99", "-O1", "-fPIC", "-shared", "-I", str(runtime_dir() / "include"),
                    *[str(src / f) for f in ("tml_softmax_s8.c", "tml_fixedpoint.c", "tml_requantize_mixed.c")],
                    "-o", str(lib_path), "-lm"], check=True)
    ffi = cffi.FFI()
    ffi.cdef(WIDTH_CDEF)
    lib = ffi.dlopen(str(lib_path))
    rs = np.random.RandomState(3)
    sm = {"rows": 3, "depth": 40, "input_multiplier": 1 << 30, "input_left_shift": 20, "diff_min": -400}
    rq = {"size": 120, "input_zp": 3, "output_zp": -2, "multiplier": 1 << 30, "shift": 0, "act_min": -128,
          "act_max": 127}
    cases = [("tml_softmax_s8", "tml_softmax_params *", sm, np.int8, np.int8, SoftmaxParams(3, 40, 1 << 30, 20, -400)),
             ("tml_softmax_s8_s16", "tml_softmax_params *", sm, np.int8, np.int16,
              SoftmaxParams(3, 40, 1 << 30, 20, -400)),
             ("tml_requantize_s32_s8", "tml_requantize_params *", rq, np.int32, np.int8,
              RequantizeParams(120, 3, -2, 1 << 30, 0, -128, 127)),
             ("tml_requantize_s8_s32", "tml_requantize_params *", {**rq, "act_min": -(1 << 31),
                                                                   "act_max": (1 << 31) - 1}, np.int8, np.int32,
              RequantizeParams(120, 3, -2, 1 << 30, 0, -(1 << 31), (1 << 31) - 1))]
    for func, ctype, fields, tin, tout, params in cases:
        x = rs.randint(-128, 128, 120).astype(tin)
        n_out = 120 * np.dtype(tout).itemsize
        arena = ffi.new("int8_t[]", x.nbytes + n_out)
        ffi.memmove(arena, x.tobytes(), x.nbytes)
        inp, outp = (ffi.cast(np.dtype(t).name + "_t *", arena + o) for t, o in ((tin, 0), (tout, x.nbytes)))
        getattr(lib, func)(ffi.new(ctype, fields), inp, outp)
        apart = bytes(ffi.buffer(arena + x.nbytes, n_out))
        arena = ffi.new("int8_t[]", max(x.nbytes, n_out))
        ffi.memmove(arena, x.tobytes(), x.nbytes)
        inp, outp = (ffi.cast(np.dtype(t).name + "_t *", arena) for t in (tin, tout))
        getattr(lib, func)(ffi.new(ctype, fields), inp, outp)
        together = bytes(ffi.buffer(arena, n_out))
        gap = safe_gap(Kernel(func, params, ()), 0)
        if np.dtype(tout).itemsize <= np.dtype(tin).itemsize:
            assert gap == 0 and together == apart, func
        else:
            assert gap is None and together != apart, func


@settings(max_examples=100, deadline=None)
@given(window_layers(), st.integers(0, 5), st.integers(0, 5), st.booleans())
def test_strided_output_slices_on_the_c_kernels(ckernels, L, before, after, channels):
    """A kernel writing its output as a channel (or column) slice of a larger tensor, through out_row_stride /
    out_px_stride, writes exactly the dense result into the slice and not one byte outside it."""
    from dataclasses import replace as dc_replace
    ffi, lib = ckernels
    rs = np.random.RandomState(L["seed"] % (2**31))
    p = _params(L, rs)
    c = L["out_c"]
    x = rs.randint(-128, 128, L["in_h"] * L["in_w"] * L["in_c"]).astype(np.int8)
    w = rs.randint(-127, 128, (L["out_c"] * L["in_c"] if L["kind"] == "conv" else L["out_c"]) * L["k_h"]
                   * L["k_w"]).astype(np.int8)
    b = rs.randint(-5000, 5000, c).astype(np.int32)
    dense = _run(ffi, lib, L, p, x, w, b, x.nbytes + p.out_h * p.out_w * c, 0, x.nbytes)
    dense = dense.reshape(p.out_h, p.out_w, c)
    if channels:  # [out_h, out_w, before + c + after], the slice at channel `before`
        full = (p.out_h, p.out_w, before + c + after)
        q = dc_replace(p, out_row_stride=full[1] * full[2], out_px_stride=full[2])
        offset, region = before, (slice(None), slice(None), slice(before, before + c))
    else:  # [out_h, before + out_w + after, c], the slice at column `before`
        full = (p.out_h, before + p.out_w + after, c)
        q = dc_replace(p, out_row_stride=full[1] * c, out_px_stride=c)
        offset, region = before * c, (slice(None), slice(before, before + p.out_w), slice(None))
    size = int(np.prod(full))
    arena = ffi.new("int8_t[]", x.nbytes + size)
    ffi.memmove(arena, x.tobytes(), x.nbytes)
    ffi.memmove(arena + x.nbytes, bytes([0x5A]) * size, size)
    out = arena + x.nbytes + offset
    if isinstance(q, PoolParams):
        cp = ffi.new("tml_pool_params *", {f.name: getattr(q, f.name) for f in dataclasses.fields(q)})
        getattr(lib, "tml_avgpool_s8" if L["kind"] == "avg" else "tml_maxpool_s8")(cp, arena, out)
    else:
        fields = {f.name: getattr(q, f.name) for f in dataclasses.fields(q) if f.name not in ("multiplier", "shift")}
        mult, shift = ffi.new("int32_t[]", list(q.multiplier)), ffi.new("int32_t[]", list(q.shift))
        cp = ffi.new("tml_conv_params *", {**fields, "multiplier": mult, "shift": shift})
        wf, bf = ffi.new("int8_t[]", w.tolist()), ffi.new("int32_t[]", b.tolist())
        (lib.tml_conv_s8 if L["kind"] == "conv" else lib.tml_depthwise_conv_s8)(cp, arena, wf, bf, out)
    got = np.frombuffer(bytes(ffi.buffer(arena + x.nbytes, size)), np.int8).reshape(full)
    assert np.array_equal(got[region], dense)
    outside = np.ones(full, bool)
    outside[region] = False
    assert (got[outside] == 0x5A).all()


# ---------------------------------------------------------------- planner with overlaps
@st.composite
def chains_with_overlaps(draw):
    n = draw(st.integers(2, 16))
    bufs, overlaps = [], {}
    for i in range(n):
        size = draw(st.integers(1, 3000))
        first = i
        last = draw(st.integers(i + 1, min(n, i + 3)))
        bufs.append(Buffer(i, size, first, last, draw(st.sampled_from([1, 1, 4])), (i,)))
    for b in bufs:  # an output may grow into an input that dies where the output is produced
        for a in bufs:
            if a.last == b.first and a.id != b.id and draw(st.booleans()):
                overlaps[(b.id, a.id)] = draw(st.integers(0, b.size))
    return bufs, overlaps


@settings(max_examples=300, deadline=None)
@given(chains_with_overlaps())
def test_planner_with_overlaps_is_valid(case):
    bufs, overlaps = case
    plan = plan_memory(bufs, overlaps)
    check_plan(bufs, plan)
    for (y, x), gap in overlaps.items():  # an overlapping pair starts at least the gap apart
        oy, ox = plan.offsets[y], plan.offsets[x]
        yb, xb = next(b for b in bufs if b.id == y), next(b for b in bufs if b.id == x)
        if oy < ox + xb.size and ox < oy + yb.size:
            assert ox - oy >= min(gap, yb.size)


def test_in_place_where_faster_or_lower(tmp_path, monkeypatch):
    """With generated kernels, a depthwise layer runs in place where the in-place kernel is the faster one (the dsp
    plane kernel at stride 1 across) or where that keeps the peak lower: person_detect's stride-1 layers run in
    place through that kernel, its stride-2 layers out of place, at the very peak of a plan that runs each layer
    the slower way wherever the peak allows (memory.techniques._faster_in_place never raises it)."""
    import tinyml.memory.techniques as techniques
    model = SHARED_MODELS / "person_detect.tflite"
    if not model.is_file():
        pytest.skip("needs ../shared/models (person_detect.tflite)")
    rep = compile_model(model, tmp_path / "faster", CompileOptions(kernels="dsp"))
    names = {layer["index"]: layer["kernels"] for layer in rep["layers"]}
    inplace = rep["memory"]["inplace_layers"]
    assert len(inplace) >= 6, inplace
    assert all("_k_dw_inplace_3x3_s1x1_" in names[k][0] and "_p16_" in names[k][0] for k in inplace), names
    strided = [k for k, ks in names.items() if any("_k_dw_3x3_s2x2_" in f for f in ks)]
    assert len(strided) == 4 and not set(strided) & set(inplace), (strided, inplace)
    monkeypatch.setattr(techniques, "in_place_slower", lambda kern, isa, g: True)
    monkeypatch.setattr(techniques, "_faster_in_place",
                        lambda g, folded, options, pp, best, how, memo, slower: best)
    slow = compile_model(model, tmp_path / "slower", CompileOptions(kernels="dsp"))
    assert slow["peak_sram_bytes"] == rep["peak_sram_bytes"]
    assert len(slow["memory"]["inplace_layers"]) < len(inplace)


def test_budget_spends_sram_on_speed(tmp_path):
    """Under an SRAM budget the plan spends what the model does not need on speed: a stride-2 depthwise layer runs
    out of place (the pixel kernels beat the in-place channel plane there), a stride-1 one in place (the dsp plane
    kernel beats the pixel kernels), while the arena stays within the budget; a budget that only in-place meets
    keeps both in place. Bit-exact with TFLM each way (memory.techniques._faster_in_place)."""
    from opplan import inplace_depthwise
    model = inplace_depthwise(tmp_path / "m.tflite", 7, 2, channels=64)  # the stride-2 layer at the peak

    def opts(**kw):
        return CompileOptions(kernels="dsp", patch="off", overlap=False, **kw)
    tight = assert_bit_exact(model, tmp_path / "tight", seeds=(0,), options=opts())
    assert tight["memory"]["inplace_layers"] == [1, 3]
    roomy = assert_bit_exact(model, tmp_path / "roomy", seeds=(0, 1), options=opts(sram_budget=1 << 20))
    assert roomy["memory"]["inplace_layers"] == [3]
    assert tight["peak_sram_bytes"] < roomy["peak_sram_bytes"] <= 1 << 20
    exact = assert_bit_exact(model, tmp_path / "exact", seeds=(0,), options=opts(sram_budget=tight["peak_sram_bytes"]))
    assert exact["memory"]["inplace_layers"] == [1, 3] and exact["peak_sram_bytes"] == tight["peak_sram_bytes"]


