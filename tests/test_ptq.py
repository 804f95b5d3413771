"""Post-training quantization (int8, int4, mixed widths, estimators, bias correction) and its export: every
exported model runs in TFLM and the generated C equals it exactly."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import needs_tflm
from oracle import tflm_run

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.frontends.tflite_writer import write_tflite  # noqa: E402
from tinyml.harness.host import HostModel  # noqa: E402
from tinyml.ir import DType, OpKind  # noqa: E402
from tinyml.quant import calibrate, quantize_graph, quantize_input  # noqa: E402
from tinyml.quant.executor import GraphExecutor, run_batches  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from torchnets import check_exported, nhwc  # noqa: E402


@pytest.mark.parametrize("bits", [8, 4])
def test_ptq_exports_bit_exact(everything, tmp_path, bits):
    _, x, g = everything
    cfg = calibrate(g, nhwc(x), weight_bits={k: bits for k in range(len(g.ops))})
    q = quantize_graph(g, cfg)
    w = [q.tensor(op.inputs[1]) for op in q.ops if op.kind in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D,
                                                                OpKind.FULLY_CONNECTED)]
    assert all(t.dtype is (DType.INT8 if bits == 8 else DType.INT4) for t in w)
    assert q.tensor(q.inputs[0]).dtype is DType.INT8 and q.tensor(q.outputs[0]).dtype is DType.INT8
    check_exported(q, nhwc(x), tmp_path, GraphExecutor(g, cfg))
    # a concatenation input made by a convolution for it alone shares its quantization: no requantization, and
    # the convolution writes straight into the concatenation's output
    first_cat = next(op for op in q.ops if op.kind is OpKind.CONCATENATION)
    made_by = {o: op.kind for op in q.ops for o in op.outputs}
    assert OpKind.DEPTHWISE_CONV_2D in {made_by[i] for i in first_cat.inputs}
    assert all(q.tensor(i).quant == q.tensor(first_cat.outputs[0]).quant for i in first_cat.inputs
               if made_by[i] is OpKind.DEPTHWISE_CONV_2D)
    rep = json.loads((tmp_path / "c" / "report.json").read_text())
    assert rep["memory"]["zero_copy_concat"]


def test_int4_layers_with_run_time_output_stages(everything, tmp_path, monkeypatch):
    """int4 convolutions and fully connected layers with their activation range read at run time (the kernel a
    geometry gets when many layers with different stages share it, here forced for every layer)."""
    import tinyml.kernels.generated as generated
    monkeypatch.setattr(generated, "STAGES_PER_GEOMETRY", 0)
    _, x, g = everything
    q = quantize_graph(g, calibrate(g, nhwc(x), weight_bits={k: 4 for k in range(len(g.ops))}))
    check_exported(q, nhwc(x), tmp_path, n=3)
    names = [f for layer in json.loads((tmp_path / "c" / "report.json").read_text())["layers"]
             for f in layer["kernels"]]
    assert any("_s4_" in f and "_ar" in f for f in names), names


def test_mixed_widths_and_estimators(everything, tmp_path):
    _, x, g = everything
    ops = [k for k, op in enumerate(g.ops) if op.kind in (OpKind.CONV_2D, OpKind.FULLY_CONNECTED)]
    for est in ("percentile", "mse"):
        q = tinyml.quantize(g, nhwc(x), weights={ops[0]: 4, ops[-1]: 4}, estimator=est)
        assert sorted(t.dtype.value for t in q.tensors if t.dtype is DType.INT4) == ["int4", "int4"]
        check_exported(q, nhwc(x), tmp_path / est, n=3)


@pytest.mark.parametrize("bits,kernels", [(8, "dsp"), (4, "dsp"), (8, "mve")])
def test_classifier_summed_band_by_band(tmp_path, bits, kernels):
    """A quantized CNN whose flattened feature map feeds a Linear layer (int8 or int4 weights): the patch stage
    runs on to the classifier, which sums its input band by band, bit-exact with TFLM (DSP and Helium kernels)."""
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, stride=2), nn.ReLU(),
                      nn.Flatten(), nn.Linear(4 * 6 * 5, 5)).eval()
    x = np.random.default_rng(0).normal(size=(32, 2, 14, 12)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    fc = next(k for k, op in enumerate(g.ops) if op.kind is OpKind.FULLY_CONNECTED)
    q = tinyml.quantize(g, nhwc(x), weights={fc: bits})
    assert (q.tensor(q.ops[fc].inputs[1]).dtype is DType.INT4) == (bits == 4)
    data = write_tflite(q)
    (tmp_path / "m.tflite").write_bytes(data)
    for rows in (2, 6):
        out = tmp_path / f"c{rows}"
        rep = tinyml.compile(tmp_path / "m.tflite", out, patch=f"{rows}x1", patch_split=fc, halos="cache",
                             kernels=kernels)
        assert rep["memory"]["patch"]["reduced_tensor"] is not None
        acc = f"model_k_fc_acc_120x5_s8_{kernels}(" if bits == 8 else "tml_fully_connected_acc_s4("  # int4: portable
        assert acc in (out / "model.c").read_text()
        host = HostModel(out)
        for i in range(4):
            xi = quantize_input(q, nhwc(x[i:i + 1]))
            assert np.array_equal(host.run([xi])[0], tflm_run(data, [xi], 1)[0]), f"differs on input {i}"
        if kernels == "mve" and shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
            from tinyml.harness.firmware import emulate  # the Helium instructions on QEMU's Cortex-M55
            res = emulate(out, "mps3-an547", [xi])
            assert res["outputs_match_host"] and res["outputs_match_reference"] is True


def test_patch_stages_through_folded_pads(tmp_path):
    """PyTorch's stride-2 convolutions with padding=1 export as PAD + VALID convolution; the PADs fold into the
    convolutions, and patch stages start at the input PAD and run through the inner one: every split point with
    cached and recomputed halos, the input in the arena and streamed, bit-exact with TFLM."""
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                      nn.ReLU(), nn.Conv2d(8, 12, 1), nn.ReLU(), nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12),
                      nn.ReLU(), nn.Conv2d(12, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    x = np.random.default_rng(0).normal(size=(16, 3, 24, 20)).astype(np.float32)
    q = tinyml.quantize(tinyml.from_torch(m, torch.tensor(x[:1])), nhwc(x))
    assert [op.kind for op in q.ops].count(OpKind.PAD) == 2
    data = write_tflite(q)
    (tmp_path / "m.tflite").write_bytes(data)
    from tinyml.compiler import analyze
    from tinyml.lower import lower
    from tinyml.memory.patching import stages
    from tinyml.memory.techniques import fold_pads
    c = analyze(data, "m.tflite")
    splits = [st.split for st in stages(c.graph, fold_pads(c.graph, lower(c.graph))[0])]
    pad2 = [k for k, op in enumerate(q.ops) if op.kind is OpKind.PAD][1]
    assert splits[0] < pad2 < splits[-1] and c.patch is not None  # the default pipelines the first stage too
    xs = [quantize_input(q, nhwc(x[i:i + 1])) for i in range(2)]
    want = [tflm_run(data, [xi], 1)[0] for xi in xs]
    for split in splits:
        for opts in (dict(patch="6x1", halos="cache"), dict(patch="3x1", halos="recompute"),
                     dict(patch="6x1", halos="cache", stream_input=True)):
            out = tmp_path / f"c{split}_{len(opts)}_{opts['halos']}"
            rep = tinyml.compile(tmp_path / "m.tflite", out, patch_split=split, **opts)
            assert rep["memory"]["patch"]["start"] == 0
            host = HostModel(out)
            assert all(np.array_equal(host.run([xi])[0], w) for xi, w in zip(xs, want)), (split, opts)


def test_int4_packing_layout():
    from tinyml.ir import pack_int4, unpack_int4
    assert pack_int4(np.array([1, 2, 3, 4], np.int8)) == bytes([0x21, 0x43])
    assert pack_int4(np.array([-1, -8, 7], np.int8)) == bytes([0x8F, 0x07])
    assert unpack_int4(bytes([0x8F, 0x07]), 3).tolist() == [-1, -8, 7]


def test_bias_correction_reduces_mean_error():
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.Conv2d(16, 8, 1), nn.Flatten(), nn.Linear(8 * 64, 4))
    x = np.abs(np.random.default_rng(1).normal(size=(128, 4, 8, 8))).astype(np.float32)
    g = tinyml.from_torch(m.eval(), torch.tensor(x[:1]))
    ref = run_batches(GraphExecutor(g), nhwc(x))
    err = {}
    for bc in (False, True):
        cfg = calibrate(g, nhwc(x), weight_bits={k: 4 for k in range(len(g.ops))}, bias_correction=bc)
        err[bc] = np.abs((run_batches(GraphExecutor(g, cfg), nhwc(x)) - ref).mean(0)).mean()
    assert err[True] < err[False]
