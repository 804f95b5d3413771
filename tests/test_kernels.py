"""Generated kernels (tinyml/kernels/families/, codegen/templates/kernels/): every signature family, in both
flavours (dsp: the SIMD code the Cortex-M4 runs, through portable definitions of its instructions on the host;
portable: plain C loops), bit-exact with the portable runtime kernels (--kernels reference), the NumPy reference
and TFLM; and the fixed-point shortcuts they use equal TFLM's arithmetic."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import SHARED_MODELS, needs_shared, needs_tflm
from helpers import assert_bit_exact, keep_in_place
from opplan import dead_channels, many_stages

from tinyml.boards import STACK_BYTES
from tinyml.compiler import CompileOptions
from tinyml.kernels import pixel_block, select
from tinyml.resources import runtime_dir

pytestmark = [needs_tflm()]

# op-plan cases per kernel family, with what their generated kernels must be called
TABLE = {
    "conv1x1": "conv_1x1", "conv_nobias": "conv_3x3", "conv3x3_s1_same_relu": "conv_3x3_s1x1",
    "conv3x3_s2_valid": "conv_3x3_s2x2", "conv5x5_s2_same_relu6": "conv_5x5_s2x2", "conv3x3_dil2_same": "_d2x2",
    "conv_s2x1_k3x1_odd": "conv_3x1_s2x1", "conv_s2_same_even": "conv_3x3_s2x2",
    "dw3x3_s1_same": "dw_3x3_s1x1", "dw3x3_valid_dil2": "dw_3x3_s1x1_d2x2", "dw5x5_s2_relu6": "dw_5x5_s2x2",
    "dense_relu": "fc_20x7", "flatten_dense": "fc_60x10", "dense_nobias": "fc_33x5",
    "avgpool2_s2_valid": "avgpool_2x2_s2x2_c3", "avgpool3_s2_same": "avgpool_3x3_s2x2_c4",
    "maxpool3_s1_same": "maxpool_3x3_s1x1_c5", "maxpool2_s2_valid": "maxpool_2x2_s2x2_c2", "add_relu": "add_20_",
    "add_relu6": "add_20_", "mul_same": "mul_", "sub_same": "add_20_",
    "cnn_residual": "add_20_", "cnn_inception": "maxpool_3x3_s1x1_c8",
}


@pytest.mark.parametrize("isa", ["dsp", "portable"])
@pytest.mark.parametrize("case", sorted(TABLE))
def test_generated_kernels_bit_exact(case, isa, opplan_models, tmp_path):
    model = opplan_models(case)
    rep = assert_bit_exact(model, tmp_path / isa, seeds=(0, 1), options=CompileOptions(kernels=isa))
    names = [f for layer in rep["layers"] for f in layer["kernels"]]
    assert any(TABLE[case] in f and f.startswith("model_k_") and f"_{isa}" in f for f in names), names
    ref = assert_bit_exact(model, tmp_path / "ref", seeds=(0,), options=CompileOptions(kernels="reference"))
    assert not any(f.startswith("model_k_") for layer in ref["layers"] for f in layer["kernels"])


@needs_shared()
@pytest.mark.parametrize("isa", ["dsp", "portable"])
def test_inplace_depthwise_and_im2col_on_a_shared_model(isa, tmp_path):
    """kws layer by layer runs its depthwise layers in place (the generated channel-plane kernel) and its first
    convolution (10x4, one input channel) through im2col; micro_speech's depthwise of one input channel becomes
    a convolution."""
    for name, fam in (("kws_ref_model.tflite", "dw_inplace_3x3"), ("micro_speech_quantized.tflite", "conv_10x8")):
        rep = assert_bit_exact(SHARED_MODELS / name, tmp_path / name, seeds=(0,),
                               options=CompileOptions(patch="off", kernels=isa))
        names = [f for layer in rep["layers"] for f in layer["kernels"]]
        assert any(fam in f for f in names), names


@pytest.mark.parametrize("case", ["conv3x3_s1_same_relu", "conv3x3_dil2_same", "conv5x5_s2_same_relu6",
                                  "conv_s2x1_k3x1_odd", "conv_nobias"])
def test_gathered_convolutions_of_two_and_three_pixels(case, opplan_models, tmp_path, monkeypatch):
    """An im2col convolution runs three pixels per pass where the memory plan has room for a third scratch row
    (memory.techniques.widen_im2col) and two otherwise; both variants bit-exact with TFLM. These models' gathering
    layer is at their peak, so the default keeps two; a plan given more arena takes three."""
    from dataclasses import replace

    import tinyml.memory.techniques as techniques
    model = opplan_models(case)
    default = assert_bit_exact(model, tmp_path / "default", seeds=(0, 1))
    real = techniques.widen_im2col
    monkeypatch.setattr(techniques, "widen_im2col", lambda g, kernels, schedule, buffers, plan, isa, ceiling=None:
                        (kernels, schedule, buffers, plan))
    narrow = assert_bit_exact(model, tmp_path / "narrow", seeds=(0, 1))
    monkeypatch.setattr(techniques, "widen_im2col", lambda g, kernels, schedule, buffers, plan, isa, ceiling=None:
                        real(g, kernels, schedule, buffers, replace(plan, peak=plan.peak + 4096), isa))
    wide = assert_bit_exact(model, tmp_path / "wide", seeds=(0, 1))
    names = [[f for layer in rep["layers"] for f in layer["kernels"] if "_k_conv_" in f] for rep in (narrow, wide)]
    assert names[0] and not any(f.endswith("_px3") for f in names[0])
    assert names[1] and all(f.endswith("_px3") for f in names[1])
    assert default["peak_sram_bytes"] == narrow["peak_sram_bytes"]


def test_gathered_windows_widened_from_the_input(tmp_path):
    """Under an SRAM budget every gathered convolution gets its third scratch row (the arena grows within the
    budget: memory.techniques.widen_im2col) and the dsp kernels whose window rows are whole words widen blocks of
    three neighbours straight from the input where their windows lie inside it (no gather): strides 1 and 2, 3x1
    and 5x5 windows, 576-value rows; bit-exact with TFLM. Without a budget the plan
    keeps its lower peak."""
    from opplan import window_convs
    model = window_convs(tmp_path / "m.tflite")
    budget = assert_bit_exact(model, tmp_path / "budget", seeds=(0, 1),
                              options=CompileOptions(kernels="dsp", sram_budget=1 << 20))
    default = assert_bit_exact(model, tmp_path / "default", seeds=(0,), options=CompileOptions(kernels="dsp"))
    convs = [f for layer in budget["layers"] for f in layer["kernels"] if "_k_conv_" in f]
    assert len(convs) == 5 and all(f.endswith("_px3") for f in convs), convs
    code = (tmp_path / "budget" / "model_kernels.c").read_text()
    assert code.count("widened from where they are") == 5
    assert "int32_t xb[864]" in code  # 576 values of three pixels: 3456 bytes of stack
    assert default["peak_sram_bytes"] <= budget["peak_sram_bytes"] <= 1 << 20


@pytest.mark.parametrize("width,isa", [(1, "dsp"), (2, "dsp"), (4, "dsp"), (5, "dsp"), (1, "portable"),
                                       (5, "portable")])
def test_blocked_kernels_on_narrow_and_odd_rows(width, isa, tmp_path):
    """Rows of 1-7 pixels (three-pixel blocks, their leftovers of one or two, pairs across rows narrower than
    three), 13 output channels (odd, a lone last channel), depthwise over 13 and 6 channels (groups of four and a
    tail) with borders on every side: bit-exact with TFLM, layer by layer and overlapping."""
    import tensorflow as tf
    from opplan import convert_keras
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(width)
    x = keras.Input((5, width, 6))
    y = keras.layers.Conv2D(13, 1, activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(y)
    y = keras.layers.Conv2D(6, 1)(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = keras.layers.Conv2D(5, 3, padding="same")(y)
    model = tmp_path / "m.tflite"
    model.write_bytes(convert_keras(keras.Model(x, y), [(5, width, 6)], seed=width))
    for name, opts in (("default", {}), ("layers", {"patch": "off"}), ("overlap", {"patch": "off", "inplace": False})):
        rep = assert_bit_exact(model, tmp_path / name, seeds=(0, 1), options=CompileOptions(kernels=isa, **opts))
        # stack buffers of the generated kernels, reported beside the arena (dsp: a staged block of three)
        assert (rep["kernel_stack_bytes"] >= 3 * 13) if isa == "dsp" and width >= 3 else rep["kernel_stack_bytes"] >= 0
        if isa == "dsp" and width >= 3:  # the 1x1 layers take their dense 5 x width maps as one run across rows
            assert "the pixels as one run" in (tmp_path / name / "model_kernels.c").read_text()


@pytest.mark.parametrize("h,w,c,rows,pool", [(8, 5, 13, 4, "avg"), (8, 9, 8, 2, "mean"), (24, 24, 7, 2, "avg")])
def test_band_channel_sums(h, w, c, rows, pool, tmp_path):
    """A patch stage that ends at an average pool or MEAN sums each band's channels with the generated kernel (four
    channels per word in 16-bit lanes): bands of 2-16 pixels (unrolled), of 36 (a loop) and of 288 (more than 255:
    the lanes emptied every 255 pixels), channel counts 13, 8 and 7 (groups of four and a tail), the first band and
    the ones added to it: bit-exact with TFLM in both flavours."""
    import tensorflow as tf
    from opplan import convert_keras

    from tinyml.compiler import analyze
    from tinyml.lower import lower
    from tinyml.memory.patching import stages
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(c)
    x = keras.Input((h, w, 3), batch_size=1)
    y = keras.layers.Conv2D(c, 3, padding="same", activation="relu")(x)
    y = keras.layers.AveragePooling2D((h, w))(y) if pool == "avg" else keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4)(keras.layers.Reshape((c,))(y))
    model = tmp_path / "m.tflite"
    model.write_bytes(convert_keras(keras.Model(x, y), [(h, w, 3)], seed=c))
    g = analyze(model.read_bytes(), model.name).graph
    split = [s for s in stages(g, lower(g)) if s.reduced is not None][-1].split
    band = h // rows * w
    for isa in ("dsp", "portable"):
        rep = assert_bit_exact(model, tmp_path / isa, seeds=(0, 1),
                               options=CompileOptions(kernels=isa, patch=f"{rows}x1", patch_split=split))
        names = {f for layer in rep["layers"] for f in layer["kernels"]}
        want = f"model_k_chsum_c{c}" + (f"_n{band}" if band <= 16 else "") + "_dsp"
        assert (want in names) if isa == "dsp" else ("tml_channel_sum_acc_s8" in names), names


def test_strided_depthwise_pairs(tmp_path):
    """dsp depthwise of stride 2 across takes inside neighbours two at a time (`_in2`, their windows sharing a
    column), the channels past the last group of four pixel by pixel, on odd and even rows, out of place (the plane
    kernel is slower there): bit-exact with TFLM."""
    import tensorflow as tf
    from opplan import convert_keras
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(5)
    x = keras.Input((11, 13, 6))
    y = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, strides=(1, 2), padding="valid")(y)
    model = tmp_path / "m.tflite"
    model.write_bytes(convert_keras(keras.Model(x, y), [(11, 13, 6)], seed=5))
    rep = assert_bit_exact(model, tmp_path / "out", seeds=(0, 1), options=CompileOptions(kernels="dsp", patch="off"))
    names = [f for layer in rep["layers"] for f in layer["kernels"] if "_k_dw_" in f]
    assert len(names) == 2 and "_s2x2_" in names[0] and names[0].endswith("_in2"), names
    assert not rep["memory"]["inplace_layers"]


def test_one_channel_depthwise_in_place(tmp_path, monkeypatch):
    """A depthwise convolution of one channel runs in place through the channel-plane kernel (not the
    convolution kernel that replaces it elsewhere, whose scratch the in-place call does not pass)."""
    import tensorflow as tf
    keep_in_place(monkeypatch)
    from opplan import convert_keras
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    x = keras.Input((14, 13, 1))
    y = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same")(y)
    model = tmp_path / "m.tflite"
    model.write_bytes(convert_keras(keras.Model(x, y), [(14, 13, 1)], seed=7))
    for isa in ("dsp", "portable"):
        rep = assert_bit_exact(model, tmp_path / isa, seeds=(0, 1),
                               options=CompileOptions(kernels=isa, patch="off", overlap=False))
        assert rep["memory"]["inplace_layers"], rep["memory"]


@needs_shared()
def test_wide_im2col_never_raises_the_peak(tmp_path, monkeypatch):
    """resnet8: the gathered convolutions off the peak get a third scratch row, the one at the peak does not;
    the peak is that of the plan without widening, and the outputs are TFLM's."""
    import tinyml.memory.techniques as techniques
    model = SHARED_MODELS / "pretrainedResnet_quant.tflite"
    wide = assert_bit_exact(model, tmp_path / "wide", seeds=(0,))
    names = [f for layer in wide["layers"] for f in layer["kernels"] if "_k_conv_3x3" in f]
    assert any(f.endswith("_px3") for f in names) and not all(f.endswith("_px3") for f in names), names
    monkeypatch.setattr(techniques, "widen_im2col", lambda g, kernels, schedule, buffers, plan, isa, ceiling=None:
                        (kernels, schedule, buffers, plan))
    from tinyml.compiler import compile_model
    narrow = compile_model(model, tmp_path / "narrow", CompileOptions(verify=False))
    assert wide["peak_sram_bytes"] == narrow["peak_sram_bytes"]


@pytest.mark.parametrize("width,stride,height", [(7, 2, 9), (8, 2, 9), (5, 1, 9), (6, 1, 9), (5, 1, 10), (6, 1, 10),
                                                  (5, (2, 1), 10)])
def test_inplace_depthwise_pairs_and_last_pixel(width, stride, height, tmp_path, monkeypatch):
    """The dsp in-place depthwise kernel (channel plane; pairs of pixels, a last odd pixel, strides 1 and 2, only
    packed weights in registers; at stride 1 across two output rows per pass, a last odd row, also at stride 2
    down) on odd and even rows and columns: bit-exact with TFLM, every depthwise layer in place."""
    from opplan import inplace_depthwise
    keep_in_place(monkeypatch)
    model = inplace_depthwise(tmp_path / "m.tflite", width, stride, height=height)
    rep = assert_bit_exact(model, tmp_path / "out", seeds=(0, 1),
                           options=CompileOptions(kernels="dsp", patch="off", overlap=False))
    names = [f for layer in rep["layers"] for f in layer["kernels"] if "_k_dw_inplace_" in f]
    assert rep["memory"]["inplace_layers"] == [1, 3] and len(names) == 2, names
    assert all("_p16_" in f for f in names), names
    if stride == (2, 1):
        assert "_s2x1_" in names[0], names


def test_kernels_option_and_board_default(tmp_path):
    from tinyml.boards import load_board
    from tinyml.errors import TinymlError
    from tinyml.kernels import resolve_isa
    m0, m4, m55 = (load_board(b) for b in ("nucleo-g071rb", "mps2-an386", "mps3-an547"))
    assert resolve_isa("auto", None) == "dsp" and resolve_isa("auto", m0) == "portable"
    assert resolve_isa("auto", m4) == "dsp" and resolve_isa("auto", m55) == "mve"
    assert resolve_isa("reference", m4) is None and resolve_isa("dsp", m55) == "dsp"
    with pytest.raises(TinymlError, match="--kernels 'neon'"):
        resolve_isa("neon", None)
    assert CompileOptions(board="nucleo-g071rb").isa() == "portable"  # Cortex-M0+: no DSP
    assert CompileOptions(board="mps2-an386").isa() == "dsp"


def test_selector_keeps_the_portable_kernel_where_it_must():
    """Grouped convolutions, batches and depth multipliers > 1 on several input channels stay portable."""
    from dataclasses import replace

    from tinyml.params import ConvParams, Kernel
    p = ConvParams(1, 8, 8, 4, 8, 8, 8, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, -128, 127, (1 << 30,) * 8, (-3,) * 8)
    assert select(Kernel("tml_conv_s8", p, (0, 1, 2, 3)), "dsp").family == "conv"
    assert select(Kernel("tml_conv_s8", replace(p, filter_in_c=2), (0, 1, 2, 3)), "dsp") is None
    assert select(Kernel("tml_conv_s8", replace(p, batches=2), (0, 1, 2, 3)), "dsp") is None
    assert select(Kernel("tml_depthwise_conv_s8", replace(p, depth_multiplier=2), (0, 1, 2, 3)), "dsp") is None
    one = select(Kernel("tml_depthwise_conv_s8", replace(p, in_c=1, depth_multiplier=8), (0, 1, 2, 3)), "dsp")
    assert one is not None and one.family == "conv"  # one input channel: a convolution
    assert select(Kernel("tml_depthwise_conv_s4", p, (0, 1, 2, 3)), "dsp") is None  # int4 depthwise: portable
    sp = select(Kernel("tml_conv_s8", p, (0, 1, 2, 3)), "dsp")
    assert sp.scratch == 2 * 36 and sp.px_block == 2  # im2col of two pixels, 3*3*4 = 36 bytes each
    assert pixel_block(sp) == 2  # outputs of a gathered pair are written while both pixels are read
    one_by_one = select(Kernel("tml_conv_s8", replace(p, k_h=1, k_w=1, pad_h=0, pad_w=0), (0, 1, 2, 3)), "dsp")
    assert one_by_one.scratch == 0 and one_by_one.px_block == 3  # three neighbours of a row, read in place
    assert pixel_block(one_by_one) == 1  # staged: stored after the block's last read, the pixel-by-pixel gap
    fast = dict(sp.consts)["RQ"]
    slow = dict(select(Kernel("tml_conv_s8", replace(p, shift=(1,) * 8), (0, 1, 2, 3)), "dsp").consts)["RQ"]
    assert (fast, slow) == (0, 0)  # multiplier 2^30 exactly: the exact requantization
    m = (1 << 30) + 5
    assert dict(select(Kernel("tml_conv_s8", replace(p, multiplier=(m,) * 8), (0, 1, 2, 3)), "dsp").consts)["RQ"]
    # a ReLU layer with a shift of -1 among its channels: tml_requant_pre_relu1 (RQ 3), named _relu1, except for
    # Helium's vector output stage and without the ReLU (the exact requantization there)
    relu1 = Kernel("tml_conv_s8", replace(p, multiplier=(m,) * 8, shift=(-1,) + (-3,) * 7, act_min=0), (0, 1, 2, 3))
    for isa, rq in (("dsp", 3), ("portable", 3), ("mve", 0)):
        sp3 = select(relu1, isa)
        assert dict(sp3.consts)["RQ"] == rq and ("_relu1" in sp3.name) == (rq == 3), (isa, sp3.name)
    assert dict(select(replace(relu1, params=replace(relu1.params, act_min=-128)), "dsp").consts)["RQ"] == 0
    # a wide 3x3 over 64 channels widens its three pixels' 576-value rows once (3,456 bytes of stack) while the
    # kernel's stack buffers stay within half the firmware's stack: 64 output channels yes, 256 no
    deep = replace(p, in_c=64, filter_in_c=64, out_c=64, multiplier=(m,) * 64, shift=(-3,) * 64)
    wide = select(Kernel("tml_conv_s8", deep, (0, 1, 2, 3), variant="wide"), "dsp")
    assert wide.const("PX") == 3 and wide.const("XW") and wide.stack == 3 * 64 + 3456 <= STACK_BYTES // 2
    deeper = replace(deep, out_c=256, multiplier=(m,) * 256, shift=(-3,) * 256)
    assert not select(Kernel("tml_conv_s8", deeper, (0, 1, 2, 3), variant="wide"), "dsp").const("XW")


REQUANT_TEST = r"""
#include <stdio.h>
#include "tml_fixedpoint.h"
#include "tml_simd.h"
static unsigned long long st = 88172645463325252ULL;
static unsigned rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (unsigned)st; }
int main(void) {
    static const int edges[] = {0, 1, -1, 2, -2, 1 << 30, -(1 << 30), 0x7fffffff, (int)0x80000000, 12345,
                                -12345, 0x3fffffff, -0x40000001};
    long bad = 0;
    int it;
    for (it = 0; it < 4000000; it++) {
        int acc = (it % 7 == 0) ? edges[rnd() % 13] : (int)rnd() >> (rnd() % 32);
        int m = (it % 5 == 0) ? ((rnd() & 1) ? (1 << 30) + 1 : 0x7fffffff) : (int)((1u << 30) | (rnd() & 0x3fffffff));
        int sh = (int)(rnd() % 40) - 31, fast_sh = -2 - (int)(rnd() % 30);
        if (it % 11 == 0) m = 0;
        if (sh > 8) sh = 8;
        if (tml_requant(acc, m, sh) != tml_mbqm(acc, m, sh)) bad++;
        if (m > (1 << 30)) {  /* tml_requant_pre with the output zero point z folded in (e <= 22, as generated) */
            const int e = -fast_sh, z = (int)(rnd() % 256) - 128, amin = z + (int)(rnd() % 8);
            const int want = tml_mbqm(acc, m, fast_sh) + z;
            if (tml_requant_pre(acc, m, e - 1, 1 << (e - 2)) != want - z) bad++;  /* any e, nothing folded */
            if (e <= 22 && tml_requant_pre(acc, m, e - 1, (1 << (e - 2)) + z * (1 << (e - 1))) != want) bad++;
            /* the ReLU form: equal once clamped to a minimum at or above z */
            if (e <= 22 && tml_max_i32(tml_requant_pre_relu(acc, m, e - 1, (1 << (e - 2)) + z * (1 << (e - 1))),
                                       amin) != tml_max_i32(want, amin)) bad++;
            /* the ReLU form whose shifts reach -1 (every e from 1 to 22; e = 1 one draw in five) */
            {
                const int e1 = (it % 5 == 1) ? 1 : (e <= 22 ? e : 1 + e % 22);
                const int want1 = tml_mbqm(acc, m, -e1) + z;
                /* the DSP kernels' records: m2 = 2m - 2^32, e, hp2 = 2^(e - 1) + z 2^e; accumulators below 2^30 in
                   magnitude (the bound special.long_accumulators proves for the layers that use them) */
                const int m2 = (int)(2u * (unsigned)m), hp2 = (1 << (e1 - 1)) + z * (1 << e1);
                if (tml_max_i32(tml_requant_pre_relu1(acc, m, e1 - 1, hp2), amin) != tml_max_i32(want1, amin)) bad++;
                if (acc > -(1 << 30) && acc < (1 << 30)) {
                    if (tml_requant_mm(acc, m2, e1, hp2) != want1) bad++;
                    if (tml_max_i32(tml_requant_mm_relu(acc, m2, e1, hp2), amin) != tml_max_i32(want1, amin)) bad++;
                }
            }
        }
    }
    {   /* the portable definitions of the DSP instructions, lane by lane */
        unsigned x = 0x80FF7F01u, y = 0x02FE8081u;
        int e = tml_sxtb16(x), o = tml_sxtb16_ror8(x);
        if (tml_lo16(e) != 1 || tml_hi16(e) != -1 || tml_lo16(o) != 127 || tml_hi16(o) != -128) bad++;
        if (tml_smlad(e, tml_sxtb16(y), 10) != 10 + 1 * -127 + -1 * -2) bad++;
        if (tml_smlatb(o, e, 0) != -128 * 1 || tml_max_s8x4(x, y) != 0x02FF7F01u) bad++;
        if (tml_smlabt(e, o, 5) != 5 + 1 * -128) bad++;
        /* SMMLAR: the high word of acc * 2^32 + a * b + 2^31, modulo 2^64 */
        if (tml_smmlar(3, 1 << 30, 7) != 8 || tml_smmlar(-3, 1 << 30, 7) != 6 || tml_smmlar(1, (int)0x80000000, 0) != 0 ||
            tml_smmlar((int)0x80000000, (int)0x80000000, 0x7fffffff) != (int)0xbfffffff ||
            tml_smmlar(-1, 1 << 30, (int)0x80000000) != (int)0x80000000 ||
            tml_smmlar(0x7fffffff, 0x7fffffff, -5) != 0x3ffffffa) bad++;
    }
    printf("%ld\n", bad);
    return bad != 0;
}
"""


def test_requantization_shortcuts_equal_tflm_arithmetic(tmp_path):
    """tml_requant (one SMLAL instead of TFLM's 64-bit division), tml_requant_pre (both roundings and the output
    zero point folded into one constant), the DSP kernels' tml_requant_mm (one SMMLAR, shifts down to -1) and,
    clamped to a ReLU's minimum, tml_requant_pre_relu, tml_requant_pre_relu1 and tml_requant_mm_relu equal tml_mbqm,
    TFLM's MultiplyByQuantizedMultiplier, on 4 million random and edge values."""
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no host C compiler")
    src = tmp_path / "rq.c"
    src.write_text(REQUANT_TEST)
    exe = tmp_path / "rq"
    inc = runtime_dir() / "include"
    subprocess.run([cc, "-std=c99", "-O2", "-DTML_PORTABLE_INTRINSICS", "-I", str(inc), str(src), "-o", str(exe)],
                   check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout


STEADY_TEST = r"""
#include <stdio.h>
#include "tml_fixedpoint.h"
#include "tml_mve.h"
#include "tml_simd.h"
static const int rec[][5] = {
%s
};
static unsigned long long st = 88172645463325252ULL;
static unsigned rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (unsigned)st; }
int main(void) {
    long bad = 0;
    unsigned i;
    int it;
    for (i = 0; i < sizeof rec / sizeof rec[0]; i++) {
        const int fast = rec[i][0], m = rec[i][2], e1 = rec[i][3], hp = rec[i][4], want = rec[i][1] - 128;
        for (it = 0; it < 4000; it++) {  /* the bounds, their neighbours, and values between */
            const int b = %d, edges[] = {-b, 1 - b, -1, 0, 1, b - 1, b};
            const int acc = it < 7 ? edges[it] : (int)(rnd() %% (2u * b + 1u)) - b;
            tml_i32x4 v;
            if (fast >= 4) {  /* smmlar_records of kinds 1 to 3 (fast - 3) */
                if (tml_requant_mm_relu(acc, m, e1, hp) != want || (fast == 4 && tml_requant_mm(acc, m, e1, hp) != want))
                    bad++;
                continue;
            }
            if (fast == 3) {
                if (tml_requant_pre_relu1(acc, m, e1, hp) != want) bad++;
                continue;
            }
            if (tml_requant_pre(acc, m, e1, hp) != want || tml_requant_pre_relu(acc, m, e1, hp) != want) bad++;
            v = tml_vrequant_pre(tml_vdup32(acc), tml_vdup32(m), tml_vdup32(e1), tml_vdup32(hp));
            if (v.v[0] != want || v.v[3] != want) bad++;
        }
    }
    printf("%%ld\n", bad);
    return bad != 0;
}
"""


def test_steady_channel_records_give_their_value(tmp_path):
    """A steady channel's requantization record (special.requant_records: every output value, for tml_requant_pre,
    tml_requant_pre_relu, tml_requant_pre_relu1, Helium's tml_vrequant_pre and, in the form of
    special.smmlar_records, the DSP kernels' tml_requant_mm and tml_requant_mm_relu) gives its value for every
    accumulator within STEADY_BOUND, the bounds themselves included."""
    import numpy as np

    from tinyml.kernels.special import STEADY_BOUND, requant_records, smmlar_records
    from tinyml.params import FullyConnectedParams
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no host C compiler")
    p = FullyConnectedParams(1, 4, 256, 0, 0, -3, -128, 127, 1, (1 << 30,) * 256, (-30,) * 256)
    rows = []
    for fast in (1, 2, 3):
        recs = requant_records(p, np.zeros(256, np.int64), fast, {c: c - 128 for c in range(256)})
        rows += [f"{{{fast}, {c}, {r[1]}, {r[2]}, {r[3]}}}," for c, r in enumerate(recs)]
        rows += [f"{{{fast + 3}, {c}, {r[1]}, {r[2]}, {r[3]}}}," for c, r in enumerate(smmlar_records(recs, fast))]
    src = tmp_path / "steady.c"
    src.write_text(STEADY_TEST % ("\n".join(rows), STEADY_BOUND))
    exe = tmp_path / "steady"
    subprocess.run([cc, "-std=c99", "-O2", "-DTML_PORTABLE_INTRINSICS", "-I", str(runtime_dir() / "include"),
                    str(src), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout


@pytest.mark.parametrize("isa", ["dsp", "mve", "portable"])
def test_dead_channels_keep_the_fast_output_stage(isa, tmp_path):
    """Dead output channels (tiny or no weights: shifts far below -22, as batch-norm folding leaves them) in 1x1
    and 3x3 convolutions, a depthwise convolution and a fully connected layer are steady (one output for every
    input, proven from the weights' bounds), so their layers keep tml_requant_pre's output stage instead of the
    generic one (no `_rq` kernel): bit-exact with TFLM."""
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.kernels.special import steady_outputs
    from tinyml.ops.conv import lower_conv, lower_fully_connected
    model = dead_channels(tmp_path / "dead.tflite")
    g = parse_tflite(model.read_bytes(), "dead")
    lowered = [(lower_fully_connected if op.kind.value == "FULLY_CONNECTED" else lower_conv)(g, op)[0]
               for op in g.ops if op.kind.value in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert len(lowered) == 5 and all(len(steady_outputs(k, g)) >= 3 for k in lowered)
    rep = assert_bit_exact(model, tmp_path / isa, seeds=(0, 1, 2), options=CompileOptions(kernels=isa))
    names = _named(rep)
    assert len(names) >= 5 and not any(n.endswith("_rq") for n in names), names


def test_long_accumulators_keep_the_smlal_stage(tmp_path, monkeypatch):
    """The DSP kernels' SMMLAR output stage (tml_requant_mm) takes accumulators below 2^30 in magnitude: a call
    whose bias and weights could reach that (special.long_accumulators, here a bias of 2^30 put in) keeps the SMLAL
    stage (`_l` kernels, tml_requant_pre and its ReLU forms), bit-exact with TFLM, as do the usual layers."""
    from dataclasses import replace as dc_replace

    import numpy as np

    import tinyml.kernels.generated as generated
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.kernels.special import long_accumulators
    from tinyml.ops.conv import lower_conv, lower_fully_connected
    model = dead_channels(tmp_path / "dead.tflite")
    g = parse_tflite(model.read_bytes(), "dead")
    lowered = [(lower_fully_connected if op.kind.value == "FULLY_CONNECTED" else lower_conv)(g, op)[0]
               for op in g.ops if op.kind.value in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert lowered and not any(long_accumulators(k, g) for k in lowered)
    k = lowered[0]
    bias = g.tensor(k.args[2])
    g = dc_replace(g, tensors=tuple(dc_replace(t, data=np.full(bias.shape, -(1 << 30), np.int32)) if i == k.args[2] else t
                                    for i, t in enumerate(g.tensors)))
    assert long_accumulators(k, g)
    usual = assert_bit_exact(model, tmp_path / "usual", seeds=(0, 1), options=CompileOptions(kernels="dsp"))
    assert not any(re.search(r"_l(_|$)", n) for n in _named(usual)), _named(usual)
    monkeypatch.setattr(generated, "long_accumulators", lambda kern, g: True)
    rep = assert_bit_exact(model, tmp_path / "long", seeds=(0, 1), options=CompileOptions(kernels="dsp"))
    staged = {n for n in _named(rep) if "_rq" not in n}
    assert staged and all(re.search(r"_l(_|$)", n) for n in staged), staged
    assert "#define TML_K_PRE tml_requant_mm" not in (tmp_path / "long" / "model_kernels.c").read_text()


def _named(rep: dict) -> set[str]:
    return {f for layer in rep["layers"] for f in layer["kernels"] if f.startswith("model_k_")}


def _const_zero_point(name: str) -> bool:
    """The generated kernel has its output zero point as a constant (`_o<value>` in its name)."""
    return re.search(r"_om?\d+_a", name) is not None


@pytest.mark.parametrize("isa", ["dsp", "portable"])
def test_many_output_stages_share_one_kernel(isa, tmp_path, monkeypatch):
    """Layers of one geometry share functions across output stages: one per stage as the code sees it (the zero
    point is in the requantization records), or with more than STAGES_PER_GEOMETRY of those one that reads its
    activation range at run time. Bit-exact with TFLM layer by layer, with in-place depthwise and with
    overlapping buffers, and far less kernel code than one function per stage."""
    import tinyml.kernels.generated as generated
    model = many_stages(tmp_path / "stages.tflite")
    for name, opts in (("default", {}), ("layers", {"patch": "off", "overlap": False}),
                       ("overlap", {"patch": "off", "inplace": False})):
        rep = assert_bit_exact(model, tmp_path / name, seeds=(0, 1), options=CompileOptions(kernels=isa, **opts))
        names = _named(rep)
        per_geometry: dict[str, set[str]] = {}
        for f in names:
            per_geometry.setdefault(re.sub(r"(_o(m?\d+|r))?_a(r|m?\d+_m?\d+)(_rq|_relu)?", "", f), set()).add(f)
        assert all(len(fs) <= generated.STAGES_PER_GEOMETRY for fs in per_geometry.values()), per_geometry
        for fam in ("_k_fc_8x8_", "_k_conv_1x1_s1x1_c8x8", "_k_dw"):  # six or more layers each: shared
            assert any(fam in f and not _const_zero_point(f) for f in names), names
    one = (tmp_path / "default" / "model_kernels.c").stat().st_size
    monkeypatch.setattr(generated, "STAGES_PER_GEOMETRY", 0)  # every geometry: activation range at run time
    rep = assert_bit_exact(model, tmp_path / "all", seeds=(0,), options=CompileOptions(kernels=isa))
    assert all("_ar" in f for f in _named(rep) if "_k_conv" in f or "_k_dw" in f or "_k_fc_" in f), _named(rep)
    monkeypatch.setattr(generated, "_shared_stages", lambda specials: {})  # one function per layer's stage
    rep = assert_bit_exact(model, tmp_path / "each", seeds=(0,), options=CompileOptions(kernels=isa))
    assert all(_const_zero_point(f) for f in _named(rep) if "_k_conv" in f or "_k_dw" in f or "_k_fc_" in f)
    assert (tmp_path / "each" / "model_kernels.c").stat().st_size > 2 * one


@pytest.mark.parametrize("isa", ["dsp", "portable"])
def test_run_time_output_stage_in_every_family(isa, opplan_models, tmp_path, monkeypatch):
    """Every family with an output stage (conv in each of its shapes, depthwise, in-place depthwise, fully
    connected) with its activation range read at run time (STAGES_PER_GEOMETRY = 0: every layer's), and with
    tml_requant (RQ 0) for every layer, its zero point read at run time too, or alone where the activation
    range is shared: bit-exact with TFLM."""
    import tinyml.kernels.generated as generated
    monkeypatch.setattr(generated, "STAGES_PER_GEOMETRY", 0)
    keep_in_place(monkeypatch)
    cases = [c for c in sorted(TABLE) if TABLE[c].startswith(("conv", "dw", "fc", "_d2"))]
    for case in cases:
        rep = assert_bit_exact(opplan_models(case), tmp_path / case, seeds=(0, 1), options=CompileOptions(kernels=isa))
        staged = [f for f in _named(rep) if "_k_conv" in f or "_k_dw" in f or "_k_fc_" in f]
        assert staged and all("_ar" in f for f in staged), staged
    model = many_stages(tmp_path / "stages.tflite")
    rep = assert_bit_exact(model, tmp_path / "inplace", seeds=(0,),
                           options=CompileOptions(kernels=isa, patch="off", overlap=False))
    assert rep["memory"]["inplace_layers"]
    assert any("_k_dw_inplace" in f and "_ar" in f for f in _named(rep))
    # tml_requant for every layer (its records do not hold the zero point)
    import tinyml.kernels.special as special
    real = special.output_stage
    monkeypatch.setattr(special, "output_stage", lambda p, isa="dsp": (("RQ", 0),) + tuple(
        kv for kv in real(p, isa)[1:] if kv[0] != "MM"))
    generated.select.cache_clear()
    try:
        rep = assert_bit_exact(model, tmp_path / "rq0", seeds=(0,), options=CompileOptions(kernels=isa))
        assert all("_or_ar_rq" in f for f in _named(rep) if "_k_conv" in f or "_k_dw" in f or "_k_fc_" in f)
        monkeypatch.setattr(generated, "STAGES_PER_GEOMETRY", 1)
        rep = assert_bit_exact(model, tmp_path / "rq0_shared", seeds=(0,), options=CompileOptions(kernels=isa))
        assert any("_k_dw_" in f and "_or_am128_127_rq" in f for f in _named(rep)), _named(rep)
    finally:
        generated.select.cache_clear()


@needs_shared()
@pytest.mark.parametrize("code", ["fast", "compact"])
def test_fast_and_compact_kernels_bit_exact(code, tmp_path):
    """The kernels' two code sizes (--code: longer unrolled loops, or the compact variant's shorter ones, which
    `auto` takes for boards with little flash to spare), on rows long enough to loop (ad01's 640- and 128-value
    FC rows, kws's 64-channel 1x1 GEMM and its 40-tap first layer): bit-exact with TFLM, compact named `_cs`."""
    for name in ("ad01_int8", "kws_ref_model"):
        rep = assert_bit_exact(SHARED_MODELS / f"{name}.tflite", tmp_path / name, seeds=(0,),
                               options=CompileOptions(code=code, patch="off"))
        looped = [f for layer in rep["layers"] for f in layer["kernels"] if "_k_fc_" in f or "_k_conv_" in f]
        assert looped and all(f.endswith("_cs") == (code == "compact") for f in looped), looped


def test_code_auto_follows_the_board(tmp_path):
    """--code auto: compact where the board's flash leaves less than 32 KiB beyond the constants and the code
    reserve, fast on a roomy board and without one; an unknown value is refused."""
    import numpy as np

    from tinyml.boards import load_board
    from tinyml.compiler import compact_code
    from tinyml.errors import TinymlError
    from tinyml.ir import DType, GraphBuilder
    gb = GraphBuilder()
    x = gb.tensor("x", (1, 8), DType.FLOAT32)
    gb.const("w", np.zeros((4, 8), np.float32))
    g = gb.build("g", (x,), (x,))
    from tinyml.resources import boards_dir
    board = boards_dir() / "mps2-an386.toml"
    small = tmp_path / "small.toml"
    small.write_text(board.read_text().replace("size = 4194304", "size = 90112", 1))
    assert load_board(str(small)).flash.size == 90112
    assert compact_code(g, CompileOptions(board=str(small)))
    assert not compact_code(g, CompileOptions(board="mps2-an386")) and not compact_code(g, CompileOptions())
    assert compact_code(g, CompileOptions(code="compact")) and not compact_code(g, CompileOptions(code="fast",
                                                                                                board=str(small)))
    with pytest.raises(TinymlError, match="--code 'small'"):
        compact_code(g, CompileOptions(code="small"))


@needs_shared()
def test_relu_layers_with_a_shift_of_minus_one(tmp_path):
    """person_detect's second depthwise layer has a channel whose shift is -1: its ReLU output stage takes
    tml_requant_pre_relu1 (dsp and portable kernels, TFLM's outputs), not the exact generic requantization."""
    for isa in ("dsp", "portable"):
        rep = assert_bit_exact(SHARED_MODELS / "person_detect.tflite", tmp_path / isa, seeds=(0,),
                               options=CompileOptions(kernels=isa, patch="off"))
        assert any("_relu1" in f for f in _named(rep)), _named(rep)


@needs_shared()
def test_int16_weights_where_the_flash_allows(tmp_path):
    """dsp convolutions read weight rows widened to int16 at generation time (no SXTB16 of weights in their inner
    loops); on a board whose flash would then leave less than 32 KiB for the code they keep int8 rows (named
    `_w8`), as the compact kernels do; every variant bit-exact with TFLM (compile's self-check and the oracle)."""
    from tinyml.compiler import COMPACT_BELOW, FIRMWARE_CODE_RESERVE, compact_code, narrow_weights
    from tinyml.frontends.tflite import load_tflite
    from tinyml.resources import boards_dir
    model = SHARED_MODELS / "kws_ref_model.tflite"
    g = load_tflite(model)
    consts = sum(t.nbytes for t in g.tensors if t.is_const)
    board = boards_dir() / "mps2-an386.toml"
    tight = tmp_path / "tight.toml"  # room for the code, not for the int16 copies
    size = consts + FIRMWARE_CODE_RESERVE + COMPACT_BELOW + 1024
    tight.write_text(board.read_text().replace("size = 4194304", f"size = {size}", 1))
    options = CompileOptions(board=str(tight), patch="off")
    assert narrow_weights(g, options) and not compact_code(g, options)
    assert not narrow_weights(g, CompileOptions(board="mps2-an386")) and not narrow_weights(g, CompileOptions())
    wide = assert_bit_exact(model, tmp_path / "wide", seeds=(0,), options=CompileOptions(patch="off"))
    narrow = assert_bit_exact(model, tmp_path / "narrow", seeds=(0,), options=options)
    convs = [[f for layer in rep["layers"] for f in layer["kernels"] if "_k_conv_" in f] for rep in (wide, narrow)]
    assert convs[0] and not any(f.endswith("_w8") for f in convs[0])
    assert convs[1] and all(f.endswith("_w8") for f in convs[1])
    assert "int16_t *w" in (tmp_path / "wide" / "model_kernels.c").read_text().split("_k_conv_", 1)[1][:400]
    assert wide["weight_bytes"] > narrow["weight_bytes"]
