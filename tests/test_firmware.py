"""Firmware tier: cross-compiled with arm-none-eabi-gcc, run on QEMU, checked against the host and TFLM, with
exact instruction counts from the QEMU plugin. Skips with a reason when the toolchain or QEMU is missing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, shared_baseline
from oracle import random_inputs

from tinyml.compiler import compile_model
from tinyml.errors import TinymlError
from tinyml.harness.firmware import build, emulate
from tinyml.resources import boards_dir

pytestmark = [
    pytest.mark.firmware, needs_shared(),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                       reason="needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (apt)"),
]
MODELS = [m["file"] for m in shared_baseline()]
OTHER_BOARDS = [(b, f) for b in ("mps2-an385", "mps2-an500", "mps2-an505", "mps3-an547", "netduinoplus2")
                for f in ("kws_ref_model.tflite", "ad01_int8.tflite")]


def _inputs(m, seed=0):
    return random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], seed)


def _check(board, name, tmp_path, options=None):
    from tinyml.compiler import CompileOptions
    m = next(m for m in shared_baseline() if m["file"] == name)
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / name, out, options or CompileOptions())
    res = emulate(out, board, _inputs(m))
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    for o, ref in zip(res["outputs"], m["tflm_output_seed0"]):
        assert o.reshape(-1).tolist() == ref
    assert res["total_instructions"] > 0
    coded = [layer for layer in res["layers"] if layer["op"] != "RESHAPE"]
    assert all(layer["instructions"] > 0 for layer in coded)
    assert sum(layer["instructions"] for layer in res["layers"]) <= res["total_instructions"]
    return out, res


@pytest.mark.parametrize("name", MODELS)
def test_an386_bit_exact(name, tmp_path):
    _check("mps2-an386", name, tmp_path)


@pytest.mark.parametrize("board,name", OTHER_BOARDS)
def test_other_cores_bit_exact(board, name, tmp_path):
    """Cortex-M3, M7, M33, M55 and the STM32F405, with the kernels generated for the DSP extension (emulated in C
    on the M3, which lacks it)."""
    _check(board, name, tmp_path)


@pytest.mark.parametrize("board,name", [("mps2-an385", "kws_ref_model.tflite"), ("mps2-an386", "vww_96_int8.tflite"),
                                        ("mps3-an547", "micro_speech_quantized.tflite")])
def test_portable_and_reference_kernels_on_qemu(board, name, tmp_path):
    """The generated portable kernels (what a Cortex-M0+/M3 gets by default) and the runtime kernels alone."""
    from tinyml.compiler import CompileOptions
    for kernels in ("portable", "reference"):
        out, _ = _check(board, name, tmp_path / kernels, CompileOptions(kernels=kernels))
        names = {f for layer in json.loads((out / "report.json").read_text())["layers"] for f in layer["kernels"]}
        assert any(f.endswith("_portable") or "_portable_" in f for f in names) == (kernels == "portable")


def test_instruction_counts_are_deterministic(tmp_path):
    out, first = _check("mps2-an386", "kws_ref_model.tflite", tmp_path)
    m = next(m for m in shared_baseline() if m["file"] == "kws_ref_model.tflite")
    second = emulate(out, "mps2-an386", _inputs(m))
    assert second["total_instructions"] == first["total_instructions"]
    assert [la["instructions"] for la in second["layers"]] == [la["instructions"] for la in first["layers"]]


def test_cli_build_and_emulate(tmp_path):
    m = next(m for m in shared_baseline() if m["file"] == "hello_world_int8.tflite")
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / m["file"], out)
    cli = [sys.executable, "-m", "tinyml"]
    r = subprocess.run(cli + ["build", str(out), "--board", "mps2-an385", "-Os"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "text" in r.stdout and (out / "firmware" / "mps2-an385" / "Makefile").is_file()
    np.save(tmp_path / "in.npy", _inputs(m)[0])
    r = subprocess.run(cli + ["emulate", str(out), "--board", "mps2-an386", "--input", str(tmp_path / "in.npy"),
                              "--output", str(tmp_path / "o.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "emulation.json").read_text())
    assert doc["board"] == "mps2-an386" and doc["emulator"] == "qemu" and doc["outputs_match_host"] is True
    assert doc["outputs_match_reference"] is True
    assert doc["total_instructions"] > 0 and {"name", "op", "macs", "instructions"} <= set(doc["layers"][0])
    assert np.load(tmp_path / "o.npz")["output_0"].reshape(-1).tolist() == m["tflm_output_seed0"][0]
    rep = json.loads((out / "report.json").read_text())
    assert rep["profile"]["total_instructions"] == doc["total_instructions"]
    assert [la["instructions"] for la in rep["layers"]] == [la["instructions"] for la in doc["layers"]]
    html = (out / "report.html").read_text()
    coded = sum(1 for la in doc["layers"] if la["macs"])  # each layer with MACs has an instr/MAC bar too
    # bars of instructions, modeled cycles and MACs per layer
    assert "<svg" in html and f"{doc['total_instructions']:,}" in html and html.count("<rect") == 3 * len(
        doc["layers"]) + coded and "x floor" in html
    assert doc["total_cycles"] > doc["total_instructions"] and f"{doc['total_cycles']:,} cycles <b>modeled</b>" in html
    assert rep["profile"]["total_cycles"] == doc["total_cycles"]
    assert [la["cycles"] for la in rep["layers"]] == [la["cycles"] for la in doc["layers"]]
    assert "cycles MODELED" in r.stdout


def _board_file(tmp_path, **over):
    text = (boards_dir() / "mps2-an386.toml").read_text()
    for old, new in over.values():
        text = text.replace(old, new)
    p = tmp_path / "custom.toml"
    p.write_text(text)
    return str(p)


def test_model_that_does_not_fit(tmp_path):
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "vww_96_int8.tflite", out)
    board = _board_file(tmp_path, sram=("size = 4194304\narena", "size = 32768\narena"))
    with pytest.raises(TinymlError, match="does not fit") as e:
        build(out, board)
    assert "compiled without --board" in str(e.value)


def test_faulting_firmware_is_reported(tmp_path):
    """RAM placed where the board has none: the first stack push faults; reported, never a silent success."""
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "hello_world_int8.tflite", out)
    board = _board_file(tmp_path, ram=("base = 0x20000000", "base = 0x60000000"))
    m = next(m for m in shared_baseline() if m["file"] == "hello_world_int8.tflite")
    with pytest.raises(TinymlError, match="(failed|did not finish)"):
        emulate(out, board, _inputs(m), timeout=10)


def test_renode_absent_is_explained(tmp_path):
    if shutil.which("renode"):
        pytest.skip("renode is installed")
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "hello_world_int8.tflite", out)
    m = next(m for m in shared_baseline() if m["file"] == "hello_world_int8.tflite")
    with pytest.raises(TinymlError, match="Renode is not installed"):
        emulate(out, "stm32f746g-disco", _inputs(m), emulator="renode")


def test_renode_scripts_generated(tmp_path):
    """Every board with a Renode platform gets a .resc and a Robot test next to its firmware."""
    from tinyml.boards import board_names, load_board
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "hello_world_int8.tflite", out)
    renode_boards = [b for b in board_names() if load_board(b).renode_platform]
    assert renode_boards
    for b in renode_boards:
        fw = build(out, b).elf.parent
        resc = (fw / f"{b}.resc").read_text()
        assert f"LoadPlatformDescription @{load_board(b).renode_platform}" in resc
        assert f"LoadELF @{(fw / 'fw.elf').resolve()}" in resc and "SemihostingUart" in resc
        robot = (fw / f"{b}.robot").read_text()
        assert "Execute Script" in robot and f"{b}.resc" in robot and "Wait For Line On Uart     TML_DONE" in robot
        assert "TML_OUTPUT 0" in robot


@pytest.mark.skipif(shutil.which("renode") is None, reason="renode is not on PATH (not installable on these "
                    "machines: not in Debian or PyPI); the generated scripts are checked by the test above")
def test_renode_run(tmp_path):
    m = next(m for m in shared_baseline() if m["file"] == "hello_world_int8.tflite")
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / m["file"], out)
    res = emulate(out, "stm32f746g-disco", _inputs(m), emulator="renode")
    assert res["outputs_match_host"]


@pytest.mark.parametrize("board", ["nucleo-g071rb", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505",
                                   "mps3-an547", "stm32f746g-disco", "nrf52840dk"])
def test_same_sources_build_for_every_core(board, tmp_path):
    """Cortex-M0+/M3 (no DSP) and M4/M7/M33 (DSP) from the same generated sources."""
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "kws_ref_model.tflite", out)
    from tinyml.boards import FIRMWARE_RAM_BYTES
    fw = build(out, board)
    peak = json.loads((out / "report.json").read_text())["peak_sram_bytes"]
    assert 0 <= fw.bss - peak < 8  # the arena is all of .bss; the linker may pad the section end to 8 bytes
    assert fw.data + fw.bss - peak <= FIRMWARE_RAM_BYTES  # what compile --board leaves for the firmware's data
    assert fw.flash_used <= fw.board.flash.size and fw.ram_used <= fw.board.sram.size


def test_flash_without_probe_is_explained(tmp_path):
    pytest.importorskip("pyocd")
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / "hello_world_int8.tflite", out)
    r = subprocess.run([sys.executable, "-m", "tinyml", "flash", str(out), "--board", "nucleo-f767zi"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no debug probe found" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tinyml", "flash", str(out), "--board", "mps2-an386"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no pyocd target" in r.stderr


def test_hanging_firmware_is_reported(tmp_path):
    """A run that outlives --timeout is stopped and reported as hung, with the emulator's output."""
    m = next(m for m in shared_baseline() if m["file"] == "vww_96_int8.tflite")
    out = tmp_path / "out"
    compile_model(SHARED_MODELS / m["file"], out)
    with pytest.raises(TinymlError, match="did not finish"):
        emulate(out, "mps2-an386", _inputs(m), timeout=0.01)


def test_patched_model_on_qemu(tmp_path):
    """Patch-based inference on the emulated board: TFLM's bytes, and every patch counted to its layer."""
    from tinyml.compiler import CompileOptions
    m = next(m for m in shared_baseline() if m["file"] == "person_detect.tflite")
    out = tmp_path / "out"
    rep = compile_model(SHARED_MODELS / m["file"], out, CompileOptions(patch="3x3"))
    res = emulate(out, "mps2-an386", _inputs(m))
    assert res["outputs_match_host"]
    assert res["outputs"][0].reshape(-1).tolist() == m["tflm_output_seed0"][0]
    per = {la["name"]: la["instructions"] for la in res["layers"]}
    split = rep["memory"]["patch"]["split"]
    assert all(per[rep["layers"][k]["name"]] > 0 for k in range(split + 1))
    assert sum(per.values()) <= res["total_instructions"]


@pytest.mark.parametrize("kernels,per_geometry", [("dsp", 4), ("dsp", 0), ("portable", 0)])
def test_run_time_output_stages_on_qemu(kernels, per_geometry, tmp_path, monkeypatch):
    """Kernels shared by layers with different output stages on the board (the zero point in the records, or the
    activation range read at run time: STAGES_PER_GEOMETRY 0): TFLM's bytes."""
    from opplan import many_stages
    from oracle import tflm_run

    import tinyml.kernels.generated as generated
    from tinyml.compiler import CompileOptions
    monkeypatch.setattr(generated, "STAGES_PER_GEOMETRY", per_geometry)
    model = many_stages(tmp_path / "stages.tflite")
    out = tmp_path / "out"
    rep = compile_model(model, out, CompileOptions(kernels=kernels))
    names = [f for layer in rep["layers"] for f in layer["kernels"] if "_k_dw_" in f]
    shared = {f for f in names if names.count(f) > 1}  # a function of several layers leaves the zero point out
    assert shared and all(("_ar" in f) == (per_geometry == 0) for f in names), names
    assert all("_o" not in f for f in shared), names
    xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in rep["inputs"]], 0)
    res = emulate(out, "mps2-an386", xs)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(model.read_bytes(), xs, 1)[0].reshape(-1))


def test_grouped_loads_on_qemu(tmp_path):
    """The dsp GEMMs whose loads are grouped in inline assembly on the board (TML_LD5: two output channels x three
    pixels, rows of 32 to 128 values, unrolled and looped; TML_LD4: blocks of two pixels): TFLM's bytes."""
    from opplan import wide_gemms
    from oracle import tflm_run
    model = wide_gemms(tmp_path / "gemms.tflite")
    out = tmp_path / "out"
    rep = compile_model(model, out)
    code = (out / "model_kernels.c").read_text()
    assert "TML_LD5(" in code and "TML_LD4(" in code
    for seed in (0, 1):
        xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in rep["inputs"]], seed)
        res = emulate(out, "mps2-an386", xs)
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(model.read_bytes(), xs, 1)[0].reshape(-1))


def test_gathered_windows_on_qemu(tmp_path):
    """Compiled for mps2-an386 (its SRAM the budget), the gathered convolutions run three pixels per pass and
    widen windows that lie inside the input straight from it (strides 1 and 2, 3x1 and 5x5 windows, 576-value
    rows): TFLM's bytes on the emulated M4."""
    from opplan import window_convs
    from oracle import tflm_run

    from tinyml.compiler import CompileOptions
    model = window_convs(tmp_path / "m.tflite")
    out = tmp_path / "out"
    rep = compile_model(model, out, CompileOptions(board="mps2-an386"))
    assert (out / "model_kernels.c").read_text().count("widened from where they are") == 5
    for seed in (0, 1):
        xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in rep["inputs"]], seed)
        res = emulate(out, "mps2-an386", xs)
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(model.read_bytes(), xs, 1)[0].reshape(-1))


@pytest.mark.parametrize("width,stride", [(7, 2), (6, 1)])
def test_inplace_depthwise_on_qemu(width, stride, tmp_path, monkeypatch):
    """The dsp in-place depthwise kernel on the board (pairs of pixels, a last odd pixel, strides 1 and 2; at
    stride 1 two output rows per pass and a last odd row): TFLM's bytes."""
    from helpers import keep_in_place
    from opplan import inplace_depthwise
    from oracle import tflm_run
    keep_in_place(monkeypatch)

    from tinyml.compiler import CompileOptions
    model = inplace_depthwise(tmp_path / "m.tflite", width, stride)
    out = tmp_path / "out"
    rep = compile_model(model, out, CompileOptions(kernels="dsp", patch="off", overlap=False))
    assert rep["memory"]["inplace_layers"] == [1, 3]
    xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in rep["inputs"]], 0)
    res = emulate(out, "mps2-an386", xs)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(model.read_bytes(), xs, 1)[0].reshape(-1))


def test_cached_halos_on_qemu(tmp_path):
    """person_detect as `tinyml compile` makes it by default (first stage in whole-row bands with cached halos) on
    the board: equal to TFLM, and the arena in RAM is the planned peak."""
    m = next(m for m in shared_baseline() if m["file"] == "person_detect.tflite")
    out = tmp_path / "out"
    rep = compile_model(SHARED_MODELS / m["file"], out)
    assert rep["memory"]["patch"]["halos"] == "cached"
    res = emulate(out, "mps2-an386", _inputs(m))
    assert res["outputs_match_host"]
    assert res["outputs"][0].reshape(-1).tolist() == m["tflm_output_seed0"][0]
    assert res["firmware"]["bss"] - rep["peak_sram_bytes"] < 8


def test_streamed_input_on_qemu(tmp_path):
    """--stream-input on the board: the input stays in flash, the patch stage gathers its regions from there."""
    from tinyml.compiler import CompileOptions
    m = next(m for m in shared_baseline() if m["file"] == "vww_96_int8.tflite")
    out = tmp_path / "out"
    rep = compile_model(SHARED_MODELS / m["file"], out, CompileOptions(stream_input=True))
    assert rep["inputs"][0]["streamed"]
    res = emulate(out, "mps2-an386", _inputs(m))
    assert res["outputs_match_host"]
    assert res["outputs"][0].reshape(-1).tolist() == m["tflm_output_seed0"][0]
    assert res["firmware"]["bss"] - rep["peak_sram_bytes"] < 8  # the input is not in RAM


def test_build_writes_images_and_a_cmake_project(tmp_path):
    """fw.elf, fw.bin and fw.hex for programmers and bootloaders, and a CMakeLists.txt that builds the same
    firmware: run on QEMU, it prints TFLM's output."""
    from tinyml.boards import load_board
    from tinyml.harness.firmware import parse_outputs, run_qemu
    m = next(m for m in shared_baseline() if m["file"] == "micro_speech_quantized.tflite")
    out = tmp_path / "out"
    rep = compile_model(SHARED_MODELS / m["file"], out)
    fw = build(out, "mps2-an386", inputs=_inputs(m))
    d = fw.elf.parent
    assert (d / "fw.bin").stat().st_size >= fw.text and (d / "fw.hex").read_text().startswith(":")
    assert (d / "fw.hex").read_text().rstrip().endswith(":00000001FF")  # Intel HEX end-of-file record
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (apt-get install cmake); the images were checked")
    r = subprocess.run(["cmake", "-S", str(d), "-B", str(d / "cbuild")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["cmake", "--build", str(d / "cbuild")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "cbuild" / "fw.bin").is_file() and (d / "cbuild" / "fw.hex").is_file()
    run = run_qemu(d / "cbuild" / "fw.elf", load_board("mps2-an386"), timeout=60)
    assert run.returncode == 0 and "TML_DONE" in run.output
    outs = parse_outputs(run.output, rep["outputs"])
    assert outs[0].reshape(-1).tolist() == m["tflm_output_seed0"][0]


def _chromium():
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def test_report_html_renders_in_a_browser(tmp_path):
    """report.html as a deployment summary (board fit, MACs, weights by width, per-layer table, charts with
    axis titles), rendered by headless Chromium after `tinyml emulate`: a non-empty screenshot, no console
    errors."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    m = next(m for m in shared_baseline() if m["file"] == "kws_ref_model.tflite")
    out = tmp_path / "out"
    from tinyml.compiler import CompileOptions
    compile_model(SHARED_MODELS / m["file"], out, CompileOptions(board="mps2-an386", patch="5x1", halos="recompute"))
    np.save(tmp_path / "in.npy", _inputs(m)[0])
    r = subprocess.run([sys.executable, "-m", "tinyml", "emulate", str(out), "--board", "mps2-an386", "--input",
                        str(tmp_path / "in.npy"), "--output", str(tmp_path / "o.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    html = (out / "report.html").read_text()
    for needle in ("Summary", "Fit on mps2-an386", "arena bytes in use", "layer (op index)", "instr/MAC", "x floor",
                   "constants by layer weight width", "int8:", "without the halos"):
        assert needle in html, needle
    assert "+48.001%" not in html and "% MACs" in html
    png = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
             "--enable-logging=stderr", "--v=0"]
    r = subprocess.run([browser, *flags, "--window-size=1250,2400", f"--screenshot={png}",
                        (out / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 20_000, r.stderr[-2000:]
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    from PIL import Image
    img = np.asarray(Image.open(png).convert("L"))
    assert img.std() > 10  # not a blank page


@pytest.mark.parametrize("case", ["focus_superres", "branching_cnn", "unet", "fpn_head", "lstm_kws", "attention",
                                  "audio_cnn_16x8"])
def test_new_operators_on_qemu(case, opplan_models, tmp_path):
    """Small realistic models TensorFlow's converter made (a U-Net, an FPN head, an unrolled LSTM, an attention
    block with LayerNorm, a focus/super-resolution block, a branching CNN, a 16x8 audio CNN): SPACE_TO_DEPTH,
    DEPTH_TO_SPACE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, TRANSPOSE_CONV, PRELU, MAXIMUM, MINIMUM, SPLIT, UNPACK,
    TRANSPOSE, BATCH_MATMUL, SQUARED_DIFFERENCE, RSQRT, a float NEG island and the int16 kernels on the emulated
    Cortex-M4: TFLM's bytes."""
    _opplan_case_on_qemu(case, opplan_models, tmp_path)


@pytest.mark.parametrize("case", ["maxpool3_s1_same", "avgpool3_s2_same", "mul_same"])
def test_generated_pool_add_mul_on_qemu(case, opplan_models, tmp_path):
    """The generated pooling, ADD and MUL kernels (four int8 lanes per word; SSUB8 + SEL for the maximum) run as
    Cortex-M4 instructions: TFLM's bytes."""
    _opplan_case_on_qemu(case, opplan_models, tmp_path)


def _opplan_case_on_qemu(case, opplan_models, tmp_path):
    from helpers import input_specs
    from oracle import tflm_run

    from tinyml.frontends.tflite import load_tflite
    model = opplan_models(case)
    g = load_tflite(model)
    xs = random_inputs(input_specs(g), 0)
    want = tflm_run(model.read_bytes(), xs, len(g.outputs))
    out = tmp_path / "out"
    compile_model(model, out)
    res = emulate(out, "mps2-an386", xs)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    for o, w in zip(res["outputs"], want):
        assert np.array_equal(o.reshape(-1), w.reshape(-1))


def test_div_every_int8_pair_on_qemu(tmp_path):
    """DIV's undefined corners in TFLM (shifts by 32 or more, a divisor at its zero point) give the oracle's bytes
    on the Cortex-M4 too, not what an Arm build of TFLM would compute there."""
    from helpers import single_op_model
    from oracle import tflm_run

    from tinyml.ir import Activation, DType, ElementwiseAttrs, OpKind
    v = np.arange(-128, 128)
    aa, bb = np.meshgrid(v, v, indexing="ij")
    shape = (1, aa.size)
    buf = single_op_model(OpKind.DIV, [(shape, DType.INT8, 0.05, 3), (shape, DType.INT8, 0.02, -9)],
                           (shape, DType.INT8, 0.07, -4), ElementwiseAttrs(Activation.NONE))
    model = tmp_path / "div.tflite"
    model.write_bytes(buf)
    xs = [aa.reshape(shape).astype(np.int8), bb.reshape(shape).astype(np.int8)]
    out = tmp_path / "out"
    compile_model(model, out)
    res = emulate(out, "mps2-an386", xs)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(buf, xs, 1)[0].reshape(-1))
