"""Generated C: C99-clean under gcc and clang with -Wall -Wextra -Werror -pedantic, runs clean under
AddressSanitizer + UndefinedBehaviorSanitizer with the same outputs, holds exactly peak_sram_bytes of static
RAM, and is deterministic."""
from __future__ import annotations

import ctypes
import filecmp
import shutil
import subprocess

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, shared_baseline
from opplan import PLAN
from oracle import random_inputs

from tinyml.compiler import CompileOptions, compile_model, read_report
from tinyml.harness.host import HostModel
from tinyml.resources import runtime_dir

WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow", "-Wconversion", "-Wno-sign-conversion"]
SHARED = [m["file"] for m in shared_baseline()]
# a few op-plan cases whose kernels the shared models do not exercise
OPS = ["add_broadcast", "sub_broadcast", "mul_broadcast", "maxpool3_s1_same", "mean_spatial", "logistic", "tanh",
       "hard_swish", "leaky_relu", "relu", "relu6", "zero_pad", "concat_width", "float_io", "two_in_two_out",
       "dw3x3_s2_same_dm2", "conv3x3_dil2_same", "strided_slice", "cnn_inception", "dense_concat"]
assert set(OPS) <= {c["name"] for c in PLAN}


def _compiled(request, tmp_path, kind, name, opplan_models=None):
    if kind == "shared":
        if not (SHARED_MODELS / name.split("+")[0]).is_file():
            pytest.skip(f"shared models not present at {SHARED_MODELS}")
        model = SHARED_MODELS / name.split("+")[0]
    else:
        model = request.getfixturevalue("opplan_models")(name.split("+")[0])
    out = tmp_path / "out"
    compile_model(model, out, CONFIGS.get((kind, name), CompileOptions()))
    return out


# configurations the defaults do not reach: first stages in bands with cached halos, reading a streamed input,
# going on to the classifier (global average pool, MEAN over H and W summed band by band)
CONFIGS = {("shared", "person_detect.tflite+stream"): CompileOptions(patch="12x1", halos="cache", stream_input=True),
           ("shared", "pretrainedResnet_quant.tflite+stream"): CompileOptions(patch="4x4", stream_input=True),
           ("shared", "kws_ref_model.tflite+classifier"): CompileOptions(patch="25x1", patch_split=9, halos="cache"),
           ("op", "cnn_mobilenet+classifier"): CompileOptions(patch="2x1", patch_split=7, halos="cache",
                                                              stream_input=True),
           # the Helium kernels through their portable definitions (tml_mve.h): depthwise with and without patches,
           # 1x1 and gathered convolutions, fully connected, channel counts off four, an in-place depthwise
           ("shared", "kws_ref_model.tflite+mve"): CompileOptions(kernels="mve"),
           ("shared", "vww_96_int8.tflite+mve"): CompileOptions(kernels="mve", patch="off"),
           ("shared", "ad01_int8.tflite+mve"): CompileOptions(kernels="mve"),
           ("op", "conv3x3_dil2_same+mve"): CompileOptions(kernels="mve"),
           ("op", "cnn_mobilenet+mve"): CompileOptions(kernels="mve", patch="off", overlap=False),
           # pooling (a predicated tail after full vectors), SUB and MUL (gathered tables, vector requantization)
           ("op", "maxpool3_s2_same_c37+mve"): CompileOptions(kernels="mve"),
           ("op", "avgpool2_s1_valid_c21+mve"): CompileOptions(kernels="mve"),
           ("op", "sub_same+mve"): CompileOptions(kernels="mve"),
           ("op", "mul_same+mve"): CompileOptions(kernels="mve"),
           # SVDF and LSTM dot products (published models)
           ("shared", "real/kws_svdf_scrambled8.tflite+mve"): CompileOptions(kernels="mve"),
           ("shared", "real/mnist_lstm.tflite+mve"): CompileOptions(kernels="mve")}
CASES = [("shared", n) for n in SHARED] + [("op", n) for n in OPS] + list(CONFIGS)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("kind,name", CASES)
def test_warning_clean(cc, kind, name, request, tmp_path):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")
    out = _compiled(request, tmp_path, kind, name)
    srcs = sorted(str(p) for p in out.glob("*.c"))
    r = subprocess.run([cc, *WARN, "-O2", "-c", *srcs], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kind,name", CASES)
def test_sanitizers_and_static_ram(kind, name, request, tmp_path):
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no host C compiler")
    out = _compiled(request, tmp_path, kind, name)
    rep = read_report(out)
    exe = tmp_path / "model_asan"
    # -O0: the sanitizers see every access as written, and the generated kernels build in ~1 s instead of ~14 at -O1
    # (the outputs are compared with the -O2 host build below)
    srcs = sorted(str(p) for p in out.glob("*.c")) + [str(runtime_dir() / "host" / "tml_host_main.c")]
    r = subprocess.run([cc, "-std=c99", "-g", "-O0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        "-fno-omit-frame-pointer", "-I", str(out), "-o", str(exe), *srcs, "-lm"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    xs = random_inputs([(tuple(s["shape"]), np.dtype(s["dtype"])) for s in rep["inputs"]], 7)
    ins = []
    for k, x in enumerate(xs):
        (tmp_path / f"in{k}.bin").write_bytes(x.tobytes())
        ins.append(str(tmp_path / f"in{k}.bin"))
    outs = [str(tmp_path / f"out{k}.bin") for k in range(len(rep["outputs"]))]
    r = subprocess.run([str(exe), *ins, "--", *outs], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    host = HostModel(out).run(xs)
    for k, h in enumerate(host):
        assert (tmp_path / f"out{k}.bin").read_bytes() == h.tobytes()
    # all static RAM of the generated model is the arena: .bss + .data of model.o == peak_sram_bytes
    obj = tmp_path / "model.o"
    subprocess.run([cc, "-std=c99", "-O2", "-c", str(out / "model.c"), "-o", str(obj)], check=True)
    size = subprocess.run(["size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    ram = sum(int(line.split()[1]) for line in size.splitlines()
              if line.split() and line.split()[0] in (".bss", ".data", ".sbss", ".sdata"))
    # (with a streamed input, plus the table of source pointers the application sets, and the padding the host
    # compiler puts between the two objects: it aligns large arrays to 32 bytes)
    # (a stateful model's variables (SVDF, LSTM state: report's state_bytes) may persist outside the arena, each
    # object aligned by the host compiler)
    if any(i["streamed"] for i in rep["inputs"]):
        assert 0 <= ram - rep["peak_sram_bytes"] - ctypes.sizeof(ctypes.c_void_p) * len(rep["inputs"]) < 32
    elif rep.get("state_bytes"):
        assert 0 <= ram - rep["peak_sram_bytes"] < rep["state_bytes"] + 32
    else:
        assert ram == rep["peak_sram_bytes"]


@needs_shared()
def test_generation_is_deterministic(tmp_path):
    model = SHARED_MODELS / "kws_ref_model.tflite"
    a, b = tmp_path / "a", tmp_path / "b"
    compile_model(model, a)
    compile_model(model, b)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors
    head = (a / "model.c").read_text().splitlines()[0]
    assert "tinyml 0.1.0" in head and "kws_ref_model.tflite" in head
    for p in a.glob("model*"):
        assert "kws_ref_model.tflite" in p.read_text().splitlines()[0]


QUANT_MAIN = r"""
#include <stdio.h>
#include "model.h"
int main(void) {
    static float x[MODEL_INPUT0_ELEMENTS], y[MODEL_OUTPUT0_ELEMENTS];
    static int8_t q[MODEL_INPUT0_ELEMENTS];
    const int shape[] = MODEL_INPUT0_SHAPE;
    size_t i;
    FILE *f = fopen("x.bin", "rb");
    if (!f || fread(x, sizeof x, 1, f) != 1) return 2;
    fclose(f);
    if (model_quantize_input_f32(0, x, q, MODEL_INPUT0_ELEMENTS) != 0) return 3;
    if (model_quantize_input_f32(0, x, NULL, MODEL_INPUT0_ELEMENTS) != 0) return 4;
    if (model_quantize_input_f32(0, x, q, 3) != -1 || model_quantize_input_f32(5, x, q, 1) != -1) return 5;
    model_invoke();
    if (model_dequantize_output_f32(0, y, MODEL_OUTPUT0_ELEMENTS) != 0) return 6;
    f = fopen("out.bin", "wb");
    fwrite(q, sizeof q, 1, f);
    fwrite(y, sizeof y, 1, f);
    fwrite(model_output(0), MODEL_OUTPUT0_ELEMENTS, 1, f);
    fclose(f);
    for (i = 0; i < MODEL_INPUT0_DIMS; i++) printf("%d ", shape[i]);
    printf("%.9g %d\n", (double)MODEL_INPUT0_SCALE, MODEL_INPUT0_ZERO_POINT);
    return 0;
}
"""


@needs_shared()
def test_model_h_quantizes_like_tinyml_quantize_input(tmp_path):
    """model.h's shape, scale and zero-point macros and the C quantize/dequantize helpers give the bytes and
    floats tinyml.quantize_input / dequantize_output give (TFLite's rounding, half away from zero)."""
    import tinyml
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no host C compiler")
    model = SHARED_MODELS / "person_detect.tflite"
    out = tmp_path / "out"
    rep = compile_model(model, out, CompileOptions(patch="off"))
    spec = rep["inputs"][0]
    rs = np.random.RandomState(3)
    x = rs.uniform(-1.2, 1.2, size=spec["shape"]).astype(np.float32)
    x.reshape(-1)[:4] = np.array([0.5, -0.5, 1.5, -2.5], np.float32) * np.float32(spec["scale"])  # exact halves
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "main.c").write_text(QUANT_MAIN)
    exe = tmp_path / "q"
    subprocess.run([cc, "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(out), str(tmp_path / "main.c"),
                    *sorted(str(p) for p in out.glob("*.c")), "-lm", "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dims, tail = r.stdout.split()[:4], r.stdout.split()[4:]
    assert [int(d) for d in dims] == spec["shape"]
    assert float(tail[0]) == pytest.approx(spec["scale"]) and int(tail[1]) == spec["zero_point"]
    raw = (tmp_path / "out.bin").read_bytes()
    n = x.size
    q = np.frombuffer(raw[:n], np.int8)
    assert np.array_equal(q, tinyml.quantize_input(model, x).reshape(-1))
    assert np.array_equal(q, tinyml.quantize_input(out, x).reshape(-1))
    assert q[:4].tolist() == [1 + spec["zero_point"], -1 + spec["zero_point"], 2 + spec["zero_point"],
                              -3 + spec["zero_point"]]  # halves round away from zero
    y = np.frombuffer(raw[n:n + 8], np.float32)
    raw_out = np.frombuffer(raw[n + 8:], np.int8)
    assert np.array_equal(y, tinyml.dequantize_output(out, raw_out))
    assert np.array_equal(raw_out, HostModel(out).run([q.reshape(spec["shape"])])[0].reshape(-1))
