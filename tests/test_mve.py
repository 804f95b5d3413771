"""Helium (MVE) kernels: the portable C definitions of the instructions in tml_mve.h equal the instructions
themselves (the same edge-value program run on the host and on QEMU's Cortex-M55, every result compared), and
`--kernels mve` is bit-exact with TFLM on the host and on QEMU mps3-an547 (shared models, op-plan cases over
channel counts, strides, dilation and padding)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from conftest import SHARED_MODELS, needs_shared, needs_tflm
from helpers import assert_bit_exact

from tinyml.boards import load_board
from tinyml.compiler import CompileOptions, compile_model
from tinyml.errors import TinymlError
from tinyml.harness.firmware import cflags, emulate, generate, ldflags, run_qemu
from tinyml.harness.host import HostModel
from tinyml.resources import runtime_dir

needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                               reason="needs gcc-arm-none-eabi and qemu-system-arm (apt-get install "
                                      "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")

# Every function of tml_mve.h on edge values (int8 extremes, wrapping sums, every predicate length); each result
# printed as hex, the same text expected from the host's C definitions and from the M55's instructions.
INTRINSICS = r"""
#include <stdint.h>
#include "tml_mve.h"

extern void put(const char *s);

static void hex(uint32_t v) {
    char b[10];
    int i;
    for (i = 0; i < 8; i++) b[i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15u];
    b[8] = '\n';
    b[9] = 0;
    put(b);
}

static void lanes(tml_i32x4 v) {
    int32_t s[4];
    int i;
    tml_vst32(s, v);
    for (i = 0; i < 4; i++) hex((uint32_t)s[i]);
}

static int8_t a[48], b[48];
static int32_t wide[8];

void run(void) {
    static const int8_t edge[] = {-128, 127, 0, 1, -1, -127, 64, -65};
    uint32_t n;
    int i;
    for (i = 0; i < 48; i++) {
        a[i] = edge[i % 8];
        b[i] = (i * 37) % 5 == 0 ? -128 : edge[(i * 5 + 3) % 8];
    }
    for (i = 0; i < 8; i++) wide[i] = i % 2 ? 0x7fffffff - i : (int32_t)0x80000000 + 3 * i;
    for (n = 0; n <= 17; n++) {
        const tml_pred m8 = tml_vctp8(n), m32 = tml_vctp32(n);
        hex(m8);
        hex(m32);
        /* zeroing loads: only the active lanes are read, the others are 0 */
        hex((uint32_t)tml_vmladava(0x7fffff00, tml_vld8_z(a + n, m8), tml_vld8(b)));
        lanes(tml_vld8x4_z(a + n, m32));
    }
    for (i = 0; i < 32; i += 3) {
        hex((uint32_t)tml_vmladava((int32_t)0x80000000 + i, tml_vld8(a + i), tml_vld8(b + i)));
        hex((uint32_t)tml_vmladava(-i, tml_vld8(a + i), tml_vld8(a + i)));
        hex((uint32_t)tml_vmladava(i, tml_vlo4(tml_vld8(a + i)), tml_vld8(b + i)));
        hex((uint32_t)tml_vmladava(-i, tml_vhi4(tml_vld8(b + i)), tml_vld8(a + i)));
        hex((uint32_t)tml_vaddva8(i % 2 ? INT32_MAX - i : INT32_MIN + i,
                                  tml_vld8_z(b + i, tml_vctp8((uint32_t)i % 17))));
        lanes(tml_vld8x4(a + i));
        lanes(tml_vld8x4_s2(b + i));
        lanes(tml_vmla32(tml_vld32(wide + (i % 4)), tml_vld8x4(a + i), tml_vld8x4(b + i)));
        lanes(tml_vmla32(tml_vdup32(0x7fffffff), tml_vld32(wide), tml_vld32(wide + 4)));
        lanes(tml_vmla32n(tml_vld32(wide + (i % 4)), tml_vld8x4(b + i), i % 2 ? -128 : 0x40000001));
        lanes(tml_vset4(i, -i, wide[i % 8], (int32_t)0x80000000));
        lanes(tml_vsub32(tml_vld32(wide + (i % 4)), tml_vld8x4(b + i)));
        lanes(tml_vmul32(tml_vld32(wide + (i % 4)), tml_vmla32n(tml_vld8x4(a + i), tml_vld8x4(b + i), 3)));
        lanes(tml_vgather32(wide, tml_vset4(i % 8, 7 - i % 8, (i * 3) % 8, 0)));
        {   /* predicated word loads and stores */
            int32_t w[4] = {0x55555555, 0x55555555, 0x55555555, 0x55555555};
            tml_vst32_p(w, tml_vld32_z(wide + (i % 4), tml_vctp32((uint32_t)i % 5)), tml_vctp32((uint32_t)(i + 2) % 5));
            lanes(tml_vld32(w));
        }
    }
    {   /* narrowing stores: predicated, scattered */
        int8_t out[40];
        for (n = 0; n <= 4; n++) {
            for (i = 0; i < 40; i++) out[i] = 0x55;
            tml_vst8x4_p(out + n, tml_vld32(wide + n), tml_vctp32(n));
            tml_vst8x4(out + 8, tml_vset4(0x1ff, -129, 128, -1));
            tml_vst8x4_strided(out + 12 + n, tml_vld32(wide + n), 5 + n);
            for (i = 0; i < 40; i += 4) hex((uint32_t)(uint8_t)out[i] | (uint32_t)(uint8_t)out[i + 1] << 8 |
                                            (uint32_t)(uint8_t)out[i + 2] << 16 | (uint32_t)(uint8_t)out[i + 3] << 24);
        }
        for (n = 0; n <= 17; n++) {  /* int8 lanes: maximum, minimum, broadcast, predicated 16-lane stores */
            const tml_pred m8 = tml_vctp8(n);
            for (i = 0; i < 40; i++) out[i] = 0x55;
            tml_vst8_p(out + (n % 5), tml_vmax8(tml_vld8(a + n), tml_vld8(b + (2 * n) % 32)), m8);
            tml_vst8_p(out + 22, tml_vmin8(tml_vmax8(tml_vld8_z(b + n, m8), tml_vdup8((int8_t)(n * 9 - 100))),
                                           tml_vdup8((int8_t)(90 - n * 7))), tml_vctp8(16 - n % 17));
            for (i = 0; i < 40; i += 4) hex((uint32_t)(uint8_t)out[i] | (uint32_t)(uint8_t)out[i + 1] << 8 |
                                            (uint32_t)(uint8_t)out[i + 2] << 16 | (uint32_t)(uint8_t)out[i + 3] << 24);
        }
    }
    {   /* the requantization on edge and pseudo-random records: every shift 2..22, zero points, signs, ties */
        uint32_t st = 12345u;
        int k;
        for (k = 0; k < 400; k++) {
            int32_t acc[4], m[4], e1[4], hp[4];
            for (i = 0; i < 4; i++) {
                const int32_t e = 2 + (k + i) % 21, z = (int32_t)((k * 7 + i * 31) % 256) - 128;
                st = st * 1664525u + 1013904223u;
                acc[i] = k % 5 == 0 ? (int32_t)(((uint32_t)((k & 1) ? -1 : 1) << (e + 1)) * (uint32_t)(2 * i + 1))
                                    : (int32_t)st >> (k % 17);
                if (k % 50 == 1) acc[i] = i % 2 ? INT32_MAX : INT32_MIN;
                st = st * 1664525u + 1013904223u;
                m[i] = (int32_t)((1u << 30) + 1u + (st >> 2) % ((1u << 30) - 1u));
                e1[i] = e - 1;
                hp[i] = (int32_t)((1u << (e - 2)) + (uint32_t)z * (1u << (e - 1)));
            }
            lanes(tml_vrequant_pre(tml_vld32(acc), tml_vld32(m), tml_vld32(e1), tml_vld32(hp)));
            lanes(tml_vclamp32(tml_vld32(acc), -100 + k % 50, 90 - k % 30));
        }
    }
}
"""

# tml_vrequant_pre (four lanes) equals tml_mbqm (TFLM's MultiplyByQuantizedMultiplier) plus the zero point for every
# record kind the Helium kernels give it: multipliers in (2^30, 2^31), right shifts 2..22, any accumulator
REQUANT = r"""
#include <stdio.h>
#include "tml_fixedpoint.h"
#include "tml_mve.h"
static unsigned long long st = 88172645463325252ULL;
static unsigned rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (unsigned)st; }
int main(void) {
    long bad = 0;
    int it, i;
    for (it = 0; it < 1000000; it++) {
        int32_t acc[4], m[4], e1[4], hp[4], got[4], z[4], e[4];
        for (i = 0; i < 4; i++) {
            e[i] = 2 + (int32_t)(rnd() % 21);
            z[i] = (int32_t)(rnd() % 256) - 128;
            m[i] = (int32_t)((1u << 30) + 1u + rnd() % ((1u << 30) - 1u));
            acc[i] = it % 3 == 0 ? (int32_t)(((rnd() & 1) ? -1 : 1) * (int32_t)((2 * (rnd() % 1000) + 1) << (e[i] - 1)))
                                 : (int32_t)rnd() >> (rnd() % 32);
            e1[i] = e[i] - 1;
            hp[i] = (int32_t)((1u << (e[i] - 2)) + (uint32_t)z[i] * (1u << (e[i] - 1)));
        }
        tml_vst32(got, tml_vrequant_pre(tml_vld32(acc), tml_vld32(m), tml_vld32(e1), tml_vld32(hp)));
        for (i = 0; i < 4; i++) if (got[i] != tml_mbqm(acc[i], m[i], -e[i]) + z[i]) bad++;
    }
    printf("%ld\n", bad);
    return bad != 0;
}
"""


def test_vector_requantization_equals_tflm_arithmetic(tmp_path):
    """The Helium output stage (VQRDMULH, a sign fix-up, VRSHL, the zero point from the record) gives TFLM's
    requantized value on a million random four-lane records, ties included (here through the C definitions, which
    the QEMU test above proves equal to the instructions)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a host C compiler")
    (tmp_path / "rq.c").write_text(REQUANT)
    exe = tmp_path / "rq"
    subprocess.run([cc, "-std=c99", "-O2", "-I", str(runtime_dir() / "include"), str(tmp_path / "rq.c"), "-o",
                    str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout


HOST_MAIN = r"""
#include <stdio.h>
void run(void);
void put(const char *s) { fputs(s, stdout); }
int main(void) { run(); return 0; }
"""

TARGET_MAIN = r"""
#include "tml_board.h"
void run(void);
void put(const char *s) { tml_board_puts(s); }
int main(void) { run(); tml_board_puts("done\n"); tml_board_exit(0); return 0; }
"""


@needs_arm
def test_portable_definitions_equal_the_instructions_on_qemu(tmp_path):
    """tml_mve.h's C definitions (host) and arm_mve.h's instructions (QEMU mps3-an547) print the same results."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a host C compiler")
    inc = runtime_dir() / "include"
    (tmp_path / "intr.c").write_text(INTRINSICS)
    (tmp_path / "host.c").write_text(HOST_MAIN)
    exe = tmp_path / "host"
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                    "-fno-sanitize-recover", "-I", str(inc), str(tmp_path / "intr.c"), str(tmp_path / "host.c"),
                    "-o", str(exe)], check=True)
    host = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    # the firmware's startup, board support and linker script (any compiled model gives them), this main
    board = load_board("mps3-an547")
    out = tmp_path / "model"
    compile_model(SHARED_MODELS / "hello_world_int8.tflite" if (SHARED_MODELS / "hello_world_int8.tflite").is_file()
                  else _tiny_model(tmp_path), out, CompileOptions(verify=False))
    fw = generate(out, board, "-O2")
    (fw / "mve_main.c").write_text(TARGET_MAIN)
    elf = fw / "mve.elf"
    r = subprocess.run(["arm-none-eabi-gcc", *cflags(board, "-O2"), "-I", str(inc), "-I", str(fw),
                        str(tmp_path / "intr.c"), str(fw / "mve_main.c"), str(fw / "startup.c"), str(fw / "board.c"),
                        *ldflags(), "-o", str(elf)], capture_output=True, text=True, cwd=fw)
    assert r.returncode == 0, r.stderr
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", "armv8.1-m.main", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    # the instructions, not the C definitions (binutils writes VMLADAVA as its alias vmlava)
    assert ("vmladava" in dis or "vmlava" in dis) and "vctp.8" in dis and "vctp.32" in dis and "vmax.s8" in dis
    run = run_qemu(elf, board, timeout=60)
    assert run.returncode == 0 and not run.timed_out, run.output
    target = run.output.split("done\n")[0]
    assert host.count("\n") > 300 and target.replace("\r", "") == host


def _tiny_model(tmp_path):
    from helpers import single_op_model

    from tinyml.ir import Activation, DType, ElementwiseAttrs, OpKind
    shape = (1, 8)
    path = tmp_path / "add.tflite"
    path.write_bytes(single_op_model(OpKind.ADD, [(shape, DType.INT8, 0.05, 3), (shape, DType.INT8, 0.02, -9)],
                                     (shape, DType.INT8, 0.07, -4), ElementwiseAttrs(Activation.NONE)))
    return path


def test_kernels_mve_is_what_auto_picks_on_helium_boards():
    """auto: mve on mps3-an547 (Cortex-M55), dsp on the M4 board; mve refused on a board without Helium."""
    assert CompileOptions(board="mps3-an547").isa() == "mve"
    assert CompileOptions(board="mps3-an547", kernels="dsp").isa() == "dsp"
    assert CompileOptions(board="mps2-an386").isa() == "dsp"
    assert CompileOptions(kernels="mve").isa() == "mve"  # the host: portable definitions
    with pytest.raises(TinymlError, match="needs a core with Helium"):
        CompileOptions(board="mps2-an386", kernels="mve").isa()


# op-plan cases and the Helium kernel each must run (channel counts off 16 and 4, odd widths, strides, dilation,
# padding on every side, depth multiplier 2, int4 weights: the dsp kernel)
CASES = {
    "conv1x1": "conv_1x1", "conv3x3_s1_same_relu": "conv_3x3_s1x1", "conv3x3_s2_valid": "conv_3x3_s2x2",
    "conv5x5_s2_same_relu6": "conv_5x5_s2x2", "conv3x3_dil2_same": "_d2x2", "conv_s2x1_k3x1_odd": "conv_3x1_s2x1",
    "dw3x3_s1_same": "dw_3x3_s1x1", "dw3x3_valid_dil2": "dw_3x3_s1x1_d2x2", "dw5x5_s2_relu6": "dw_5x5_s2x2",
    "dense_relu": "fc_20x7", "flatten_dense": "fc_60x10", "dense_nobias": "fc_33x5",
    "maxpool3_s2_same_c37": "maxpool_3x3_s2x2_c37", "maxpool3_s1_same": "maxpool_3x3_s1x1_c5",
    "avgpool2_s1_valid_c21": "avgpool_2x2_s1x1_c21", "avgpool3_s2_same": "avgpool_3x3_s2x2_c4",
    "add_relu": "k_add_", "sub_same": "k_add_", "mul_same": "k_mul_",
}


@needs_tflm()
@pytest.mark.parametrize("case", sorted(CASES))
def test_mve_kernels_bit_exact_on_the_host(case, opplan_models, tmp_path):
    rep = assert_bit_exact(opplan_models(case), tmp_path, seeds=(0, 1), options=CompileOptions(kernels="mve"))
    names = [f for layer in rep["layers"] for f in layer["kernels"]]
    assert any(CASES[case] in f and f.startswith("model_k_") and f.endswith("_mve") or
               (CASES[case] in f and "_mve_" in f) for f in names), names


def _on_qemu(model, xs, want, tmp_path, options):
    out = tmp_path / "out"
    rep = compile_model(model, out, options)
    res = emulate(out, "mps3-an547", xs)
    assert res["outputs_match_host"] and res["outputs_match_reference"] is True
    for o, w in zip(res["outputs"], want):
        assert np.array_equal(np.asarray(o).reshape(-1), np.asarray(w).reshape(-1))
    return rep, res


@needs_arm
@needs_tflm()
@pytest.mark.firmware
@pytest.mark.parametrize("case", sorted(CASES))
def test_mve_kernels_bit_exact_on_qemu(case, opplan_models, tmp_path):
    """The same cases as Cortex-M55 instructions on QEMU mps3-an547 (auto picks mve there): TFLM's bytes."""
    from helpers import input_specs
    from oracle import random_inputs, tflm_run

    from tinyml.frontends.tflite import load_tflite
    model = opplan_models(case)
    g = load_tflite(model)
    xs = random_inputs(input_specs(g), 0)
    rep, _ = _on_qemu(model, xs, tflm_run(model.read_bytes(), xs, len(g.outputs)), tmp_path,
                      CompileOptions(board="mps3-an547"))
    assert rep["kernels"] == "mve"


@needs_arm
@needs_shared()
@pytest.mark.firmware
@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8",
                                  "str_ww_ref_model", "person_detect", "micro_speech_quantized", "hello_world_int8"])
def test_shared_models_bit_exact_on_the_m55(name, tmp_path):
    """Every shared model with --kernels mve on QEMU mps3-an547: TFLM's output (baseline.json, seed 0)."""
    from conftest import shared_baseline
    from oracle import random_inputs
    m = next(m for m in shared_baseline() if m["file"] == f"{name}.tflite")
    xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], 0)
    rep, res = _on_qemu(SHARED_MODELS / m["file"], xs, [np.array(r) for r in m["tflm_output_seed0"]], tmp_path,
                        CompileOptions(kernels="mve"))
    names = {f for layer in rep["layers"] for f in layer["kernels"]}
    assert name == "hello_world_int8" or any("_mve" in f for f in names), names


@needs_arm
@needs_shared()
@pytest.mark.firmware
@pytest.mark.parametrize("name,options,kernel", [
    # patch-based: the classifier's global average pool summed band by band (chsum), halos cached
    ("kws_ref_model", CompileOptions(kernels="mve", patch="25x1", patch_split=9, halos="cache"), "chsum_"),
    # patch-based from a streamed input: convolution and depthwise kernels on patch regions
    ("person_detect", CompileOptions(kernels="mve", patch="12x1", halos="cache", stream_input=True), "dw_")])
def test_patch_regions_bit_exact_on_the_m55(name, options, kernel, tmp_path):
    """Patch-based inference with the Helium kernels on QEMU mps3-an547: TFLM's output (baseline.json, seed 0)."""
    from conftest import shared_baseline
    from oracle import random_inputs
    m = next(m for m in shared_baseline() if m["file"] == f"{name}.tflite")
    xs = random_inputs([(tuple(s["shape"]), s["dtype"]) for s in m["input"]], 0)
    rep, _ = _on_qemu(SHARED_MODELS / m["file"], xs, [np.array(r) for r in m["tflm_output_seed0"]], tmp_path, options)
    assert rep["memory"]["patch"] is not None
    names = {f for layer in rep["layers"] for f in layer["kernels"]}
    assert any(kernel in f and "_mve" in f for f in names), names


@needs_arm
@needs_tflm()
@pytest.mark.firmware
@pytest.mark.parametrize("name,kernel", [("kws_svdf_scrambled8", "svdf_"), ("mnist_lstm", "lstm_")])
def test_svdf_and_lstm_bit_exact_on_the_m55(name, kernel, tmp_path):
    """SVDF's feature matmul and the LSTM's gate products as Helium dot products (published stateful models from
    ../shared/models/real): the TFLM references stored beside them (five cases, each from the reset state) on the
    host, and the first on QEMU mps3-an547."""
    import tinyml
    model = SHARED_MODELS / "real" / f"{name}.tflite"
    if not model.is_file():
        pytest.skip(f"the published models are not present at {model.parent}")
    ref = np.load(model.with_suffix(".ref.npz"))
    cases = [([ref[f"x{k}_{j}"] for j in range(8) if f"x{k}_{j}" in ref.files],
              [ref[f"y{k}_{j}"] for j in range(8) if f"y{k}_{j}" in ref.files]) for k in range(5)]
    out = tmp_path / "host"
    rep = compile_model(model, out, CompileOptions(kernels="mve"))
    names = {f for layer in rep["layers"] for f in layer["kernels"]}
    assert any(kernel in f and f.endswith("_mve") for f in names), names
    for xs, ys in cases:
        for got, want in zip(tinyml.run(out, xs), ys):
            assert got.dtype == want.dtype and np.array_equal(got.reshape(-1), want.reshape(-1))
    _on_qemu(model, cases[0][0], cases[0][1], tmp_path, CompileOptions(kernels="mve"))


@needs_tflm()
@pytest.mark.parametrize("emulated", [False, pytest.param(True, marks=[needs_arm, pytest.mark.firmware])])
def test_int4_weights_bit_exact(emulated, tmp_path):
    """int4 weights in the Helium conv (1x1 read in place; 3x3 through im2col, stride 2, padding; rows of 9 x 37
    values: whole 32-value steps and a tail past 16) and fully connected kernels (depths 32 k + 13 and + 21):
    TFLM's outputs on the host, and with `emulated` on QEMU mps3-an547."""
    torch = pytest.importorskip("torch", reason="PyTorch builds the int4 model: pip install '.[torch]'")
    from torch import nn

    import tinyml
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.quant import quantize_input
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(3, 37, 3, padding=1), nn.ReLU(), nn.Conv2d(37, 19, 1), nn.ReLU(),
                      nn.Conv2d(19, 22, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(22 * 4 * 3, 45),
                      nn.ReLU(), nn.Linear(45, 6)).eval()
    x = np.random.default_rng(0).normal(size=(24, 3, 8, 6)).astype(np.float32)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    q = tinyml.quantize(tinyml.from_torch(m, torch.tensor(x[:1])), nhwc, weights="int4")
    path = tmp_path / "int4.tflite"
    path.write_bytes(write_tflite(q))
    from oracle import tflm_run
    xs = [quantize_input(q, nhwc[i:i + 1]) for i in range(3)]
    want = [tflm_run(path.read_bytes(), [xi], 1) for xi in xs]
    opts = CompileOptions(kernels="mve", patch="off")
    if emulated:
        rep, _ = _on_qemu(path, [xs[0]], want[0], tmp_path, opts)
    else:
        out = tmp_path / "host"
        rep = compile_model(path, out, opts)
        host = HostModel(out)
        for xi, w in zip(xs, want):
            assert np.array_equal(host.run([xi])[0], w[0])
    names = {f for layer in rep["layers"] for f in layer["kernels"]}
    assert sum(("_s4_mve" in f) for f in names) >= 4, names


@needs_arm
@needs_tflm()
@pytest.mark.firmware
@pytest.mark.parametrize("seed", [4, 9, 17])
def test_random_nets_bit_exact_on_the_m55(seed, tmp_path):
    """Random networks (tests/support/randnets; these seeds: depthwise 5x5 stride 2 and a 5x5 conv from Keras;
    int4 weights, stride 2, a concatenation of branches from PyTorch; max pooling, 1x1 convs to 19 and 2 channels,
    dilation 2), each with a global-pool dense head, with --kernels mve on QEMU mps3-an547: TFLM's outputs."""
    from oracle import tflm_run
    from randnets import build, random_net

    from tinyml.compiler import parse_tflite
    from tinyml.verify import graph_inputs
    tfl = build(random_net(seed))
    path = tmp_path / "net.tflite"
    path.write_bytes(tfl)
    g = parse_tflite(tfl, path.name)
    xs = graph_inputs(g, 0)
    rep, _ = _on_qemu(path, xs, tflm_run(tfl, xs, len(g.outputs)), tmp_path, CompileOptions(kernels="mve"))
    assert any("_mve" in f for layer in rep["layers"] for f in layer["kernels"])


@needs_tflm()
@pytest.mark.parametrize("emulated", [False, pytest.param(True, marks=[needs_arm, pytest.mark.firmware])])
def test_depth_multiplier_2_with_mve(emulated, opplan_models, tmp_path):
    """A depthwise convolution of depth multiplier 2 (the runtime kernel, as with dsp) among Helium kernels: TFLM's
    outputs on the host, and with `emulated` on QEMU mps3-an547."""
    from helpers import input_specs
    from oracle import random_inputs, tflm_run

    from tinyml.compiler import parse_tflite
    model = opplan_models("dw3x3_s2_same_dm2")
    opts = CompileOptions(kernels="mve")
    if not emulated:
        assert_bit_exact(model, tmp_path, seeds=(0, 1), options=opts)
        return
    g = parse_tflite(model.read_bytes(), model.name)
    xs = random_inputs(input_specs(g), 0)
    _on_qemu(model, xs, tflm_run(model.read_bytes(), xs, len(g.outputs)), tmp_path, opts)
