"""Front ends (PyTorch, Keras), post-training quantization (int8, int4, mixed), QAT, pruning, export and the
`tinyml compress` command: every exported model runs in TFLM, equals the fake-quantized float graph within one
LSB, and the generated C equals TFLM exactly."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, needs_tflm, tf_available
from oracle import tflm_run

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.errors import TinymlError, UnsupportedOpError  # noqa: E402
from tinyml.frontends.tflite import parse_tflite  # noqa: E402
from tinyml.frontends.tflite_writer import write_tflite  # noqa: E402
from tinyml.harness.host import HostModel  # noqa: E402
from tinyml.ir import DType, OpKind  # noqa: E402
from tinyml.quant import calibrate, quantize_graph, quantize_input  # noqa: E402
from tinyml.quant.executor import GraphExecutor, run_batches  # noqa: E402
from tinyml.reference import run_reference  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


class Everything(nn.Module):
    """Every supported module once: grouped/depthwise/dilated convs, BN folding, all activations, arithmetic
    with tensors and scalars, cat, pooling, flatten, dropout, linear, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU6())
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.grouped = nn.Conv2d(12, 12, 3, padding=2, dilation=2, groups=3)
        self.pw = nn.Conv2d(24, 16, 1)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.Hardswish()
        self.side = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.LeakyReLU(0.1))
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(16 * 2 * 2 + 16, 24)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(24, 5)

    def forward(self, x):
        h = self.stem(x)
        a = torch.relu(self.dw(h))
        b = torch.tanh(self.grouped(h)) * 0.5
        h = torch.cat([a, b], dim=1)
        h = self.act(self.bn(self.pw(h)))
        h = h + torch.sigmoid(self.side(h)) - 0.25
        p = self.avg(self.pool(h))
        g = torch.flatten(self.gap(h), 1)
        z = torch.cat([torch.flatten(p, 1), g], dim=1)
        return torch.softmax(self.fc2(self.drop(torch.relu(self.fc1(z)))), dim=-1)


def _randomize_bn(m: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.rand(mod.num_features, generator=g) - 0.5)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) + 0.5)


@pytest.fixture(scope="module")
def everything():
    torch.manual_seed(0)
    m = Everything().eval()
    _randomize_bn(m)
    x = np.random.default_rng(0).normal(size=(96, 3, 16, 16)).astype(np.float32)
    return m, x, tinyml.from_torch(m, torch.tensor(x[:1]))


def _aligned(q, ex: GraphExecutor) -> dict[int, int] | None:
    """q's tensor -> the float graph's tensor, when the integer graph has the float graph's ops in the same order
    (QAT's export does; PTQ may add requantizations), else None."""
    g = ex.g
    if len(q.ops) != len(g.ops) or any(a.kind is not b.kind for a, b in zip(q.ops, g.ops)):
        return None
    m = dict(zip(q.inputs, g.inputs))
    for a, b in zip(q.ops, g.ops):
        m.update(zip(a.inputs, b.inputs))
        m.update(zip(a.outputs, b.outputs))
    return m if all(q.tensor(t).shape == g.tensor(u).shape for t, u in m.items() if t >= 0) else None


def _layerwise_lsb(q, ex: GraphExecutor, xs: list[np.ndarray], m: dict[int, int]) -> float:
    """The largest difference, in LSB of each op's output, between the integer model and the fake-quantized graph
    `ex` evaluated on the integer model's own inputs to that op (`m`: q's tensors -> ex's). TFLM's fixed-point
    rounding is the only difference the export allows: at most one LSB per layer (end to end, a one-LSB
    difference can grow through later layers)."""
    worst = 0.0
    for xi in xs:
        ints = run_reference(q, [xi], keep_all=True)
        deq, scale = {}, {}
        for t, v in ints.items():
            tq = q.tensor(t)
            if t in m and tq.quant is not None and tq.dtype is DType.INT8:
                sc, zp = tq.quant.scalar()
                deq[m[t]] = torch.tensor((np.asarray(v).astype(np.float32) - zp) * np.float32(sc))
                scale[m[t]] = sc

        def get(i: int, deq: dict = deq) -> torch.Tensor:
            return deq[i] if i in deq else ex.consts[i]
        for k, op in enumerate(ex.g.ops):
            out = op.outputs[0]
            if out not in deq:
                continue
            with torch.no_grad():
                y = ex._fq(out, ex._op(k, op, get))
            worst = max(worst, float((y.reshape(deq[out].shape) - deq[out]).abs().max()) / scale[out])
    return worst


def _check_exported(q, x: np.ndarray, tmp_path: Path, ex: GraphExecutor | None = None, n: int = 6) -> None:
    """q's .tflite: TFLM equals the generated C and the reference; within one LSB of the fake-quantized graph
    `ex`: at every layer given the same input where the two graphs align op for op, else at the output."""
    data = write_tflite(q)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    out = tmp_path / "c"
    tinyml.compile(path, out)
    host = HostModel(out)
    xs = []
    fq = run_batches(ex, x[:n]) if ex is not None else None
    s, z = q.tensor(q.outputs[0]).quant.scalar()
    for i in range(n):
        xi = quantize_input(q, x[i:i + 1])
        xs.append(xi)
        want = tflm_run(data, [xi], 1)[0]
        assert np.array_equal(host.run([xi])[0], want), f"generated C differs from TFLM on input {i}"
        assert np.array_equal(run_reference(q, [xi])[0], want), f"reference differs from TFLM on input {i}"
        if fq is not None and _aligned(q, ex) is None:
            lsb = np.abs((want.astype(np.float64) - z) * s - fq[i]).max() / s
            assert lsb <= 1.0 + 1e-4, f"integer model is {lsb:.2f} LSB away from the fake-quantized graph"
    if ex is not None and (m := _aligned(q, ex)) is not None:
        lsb = _layerwise_lsb(q, ex, xs, m)
        assert lsb <= 1.0 + 1e-4, f"a layer of the integer model is {lsb:.2f} LSB away from the fake-quantized graph"


def test_float_import_matches_torch(everything):
    m, x, g = everything
    kinds = {op.kind for op in g.ops}
    assert {OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.CONCATENATION,
            OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D, OpKind.MEAN, OpKind.HARD_SWISH, OpKind.LOGISTIC,
            OpKind.TANH, OpKind.LEAKY_RELU, OpKind.SOFTMAX, OpKind.ADD, OpKind.SUB, OpKind.MUL} <= kinds
    assert not any("batch_norm" in op.name for op in g.ops)  # folded
    assert g.tensor(g.inputs[0]).shape == (1, 16, 16, 3)  # NHWC once, at the boundary
    want = m(torch.tensor(x)).detach().numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5


@pytest.mark.parametrize("bits", [8, 4])
def test_ptq_exports_bit_exact(everything, tmp_path, bits):
    _, x, g = everything
    cfg = calibrate(g, nhwc(x), weight_bits={k: bits for k in range(len(g.ops))})
    q = quantize_graph(g, cfg)
    w = [q.tensor(op.inputs[1]) for op in q.ops if op.kind in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D,
                                                                OpKind.FULLY_CONNECTED)]
    assert all(t.dtype is (DType.INT8 if bits == 8 else DType.INT4) for t in w)
    assert q.tensor(q.inputs[0]).dtype is DType.INT8 and q.tensor(q.outputs[0]).dtype is DType.INT8
    _check_exported(q, nhwc(x), tmp_path, GraphExecutor(g, cfg))
    # a concatenation input made by a convolution for it alone shares its quantization: no requantization, and
    # the convolution writes straight into the concatenation's output
    first_cat = next(op for op in q.ops if op.kind is OpKind.CONCATENATION)
    made_by = {o: op.kind for op in q.ops for o in op.outputs}
    assert OpKind.DEPTHWISE_CONV_2D in {made_by[i] for i in first_cat.inputs}
    assert all(q.tensor(i).quant == q.tensor(first_cat.outputs[0]).quant for i in first_cat.inputs
               if made_by[i] is OpKind.DEPTHWISE_CONV_2D)
    rep = json.loads((tmp_path / "c" / "report.json").read_text())
    assert rep["memory"]["zero_copy_concat"]


def test_mixed_widths_and_estimators(everything, tmp_path):
    _, x, g = everything
    ops = [k for k, op in enumerate(g.ops) if op.kind in (OpKind.CONV_2D, OpKind.FULLY_CONNECTED)]
    for est in ("percentile", "mse"):
        q = tinyml.quantize(g, nhwc(x), weights={ops[0]: 4, ops[-1]: 4}, estimator=est)
        assert sorted(t.dtype.value for t in q.tensors if t.dtype is DType.INT4) == ["int4", "int4"]
        _check_exported(q, nhwc(x), tmp_path / est, n=3)


@pytest.mark.parametrize("bits", [8, 4])
def test_classifier_summed_band_by_band(tmp_path, bits):
    """A quantized CNN whose flattened feature map feeds a Linear layer (int8 or int4 weights): the patch stage
    runs on to the classifier, which sums its input band by band, bit-exact with TFLM."""
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
        rep = tinyml.compile(tmp_path / "m.tflite", out, patch=f"{rows}x1", patch_split=fc, halos="cache")
        assert rep["memory"]["patch"]["reduced_tensor"] is not None
        acc = "model_k_fc_acc_120x5_s8_dsp(" if bits == 8 else "tml_fully_connected_acc_s4("  # int4: portable
        assert acc in (out / "model.c").read_text()
        host = HostModel(out)
        for i in range(4):
            xi = quantize_input(q, nhwc(x[i:i + 1]))
            assert np.array_equal(host.run([xi])[0], tflm_run(data, [xi], 1)[0]), f"differs on input {i}"


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


def test_unsupported_module_names_its_path():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GELU())

        def forward(self, x):
            return self.block(x)
    with pytest.raises(UnsupportedOpError, match=r"module 'block\.1' \(GELU\)"):
        tinyml.from_torch(Net(), torch.zeros(1, 1, 8, 8))
    with pytest.raises(TinymlError, match="expects a torch.nn.Module"):
        tinyml.from_torch("not a model", None)


class PaddedPools(nn.Module):
    """A standalone BatchNorm (on an ADD, no convolution to fold into), padded pooling that is TFLite's SAME
    (max, and an average that ignores padded cells), and an average that counts them (explicit PAD)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.side = nn.Conv2d(3, 6, 1)
        self.bn = nn.BatchNorm2d(6)
        self.maxp = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg_excl = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.avg_incl = nn.AvgPool2d(3, stride=2, padding=1)
        self.fc = nn.Linear(6 * 3 * 3, 4)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = self.bn(h + self.side(x))
        h = self.avg_excl(self.maxp(h))
        return self.fc(torch.flatten(self.avg_incl(h), 1))


def test_standalone_batchnorm_and_padded_pooling(tmp_path):
    torch.manual_seed(0)
    m = PaddedPools()
    with torch.no_grad():  # non-trivial running statistics
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.uniform_(-0.3, 0.3)
    m.eval()
    x = np.random.default_rng(0).normal(size=(64, 3, 9, 9)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert OpKind.MUL in kinds and OpKind.PAD in kinds
    pools = [op.attrs.padding.value for op in g.ops if op.kind in (OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D)]
    assert pools == ["same", "same", "valid"]
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))
    # padded max pooling that is not SAME: a clear error naming the module
    with pytest.raises(UnsupportedOpError, match=r"module 'maxp' \(MaxPool2d\).*not TFLite's SAME"):
        tinyml.from_torch(m, torch.zeros(1, 3, 10, 10))


class Split(nn.Module):
    """Channel split (ShuffleNet-style) and a strided spatial slice: STRIDED_SLICE."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(5, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 8, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        y = self.a(h[:, :3]) + self.b(h[:, 3:])
        return self.fc(torch.flatten(y[:, :, 1:9:2, -8:], 1))


def test_slicing(tmp_path):
    torch.manual_seed(0)
    m = Split().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert sum(op.kind is OpKind.STRIDED_SLICE for op in g.ops) >= 3
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


def test_qat_exports_the_model_it_trained(tmp_path):
    from tinyml.quant import qat
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(), nn.Flatten(), nn.Linear(8 * 16, 10))
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images[:400, None] / 16.0).astype(np.float32)
    y = d.target[:400]
    g = tinyml.from_torch(m.eval(), torch.tensor(x[:1]))
    mod = qat.prepare(g, nhwc(x[:128]), weights="int4")
    before = {n: p.detach().clone() for n, p in mod.named_parameters()}
    losses = qat.finetune(mod, nhwc(x), y, epochs=2, lr=1e-2)
    assert losses[-1] < losses[0]
    changed = [n for n, p in mod.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert any("scale" in n for n in changed) and any(n.startswith("w.") for n in changed)
    q = qat.export(mod)
    mod.eval()
    _check_exported(q, nhwc(x), tmp_path, mod)


def test_pruning_keeps_a_consistent_graph(tmp_path):
    from tinyml.quant.prune import prunable_chains, prune
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1,
                      groups=8), nn.ReLU(), nn.Conv2d(8, 12, 1), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 16, 10))
    x = np.random.default_rng(0).normal(size=(32, 1, 8, 8)).astype(np.float32)
    g = tinyml.from_torch(m.eval(), torch.tensor(x[:1]))
    assert len(prunable_chains(g)) == 2
    gp = prune(g, 0.5)
    convs = [gp.tensor(op.outputs[0]).shape[-1] for op in gp.ops if op.kind is OpKind.CONV_2D]
    assert convs == [4, 6]
    assert tinyml.quant.weight_bytes(tinyml.quantize(gp, nhwc(x))) < tinyml.quant.weight_bytes(
        tinyml.quantize(g, nhwc(x)))
    # the pruned float graph equals the original network with those channels zeroed: run and export it
    q = tinyml.quantize(gp, nhwc(x))
    _check_exported(q, nhwc(x), tmp_path, n=3)


def test_pruning_is_followed_by_fine_tuning(tmp_path):
    """A flash budget only pruning reaches: with labels, the pruned network is fine-tuned before quantization,
    and scores clearly better on held-out data than the same pruning without it."""
    from sklearn.datasets import load_digits

    from tinyml.quant.compress import compress
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(m.parameters(), 2e-3)
    xt, yt = torch.tensor(x[:1200]), torch.tensor(d.target[:1200])
    for _ in range(15):
        perm = torch.randperm(1200)
        for s in range(0, 1200, 32):
            i = perm[s:s + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(m(xt[i]), yt[i]).backward()
            opt.step()
    g = tinyml.from_torch(m.eval(), torch.tensor(x[:1]))
    xs = nhwc(x)
    budget = int(0.3 * tinyml.quant.weight_bytes(tinyml.quantize(g, xs[:200])))
    plain, tuned = (compress(g, xs[:1000], xs[1200:], d.target[1200:], flash_budget=budget,
                             calib_y=d.target[:1000], finetune_epochs=n) for n in (0, 10))
    assert plain.chosen.prune > 0 and tuned.chosen.prune > 0
    assert tinyml.quant.weight_bytes(tuned.graph) <= budget
    assert tuned.chosen.score > plain.chosen.score + 0.03
    assert tuned.chosen.score > tuned.float_score - 0.05
    _check_exported(tuned.graph, xs, tmp_path, n=2)


@pytest.mark.skipif(not tf_available(), reason="tensorflow-cpu is needed for the Keras front end")
def test_keras_front_end(tmp_path):
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    inp = tf.keras.Input((12, 12, 2), batch_size=1)
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = L.BatchNormalization()(h)
    h = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(h)
    h = L.AveragePooling2D(2)(h)
    h = L.Flatten()(h)
    out = L.Dense(4, activation="softmax")(L.Dense(16, activation="relu")(h))
    km = tf.keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(64, 12, 12, 2)).astype(np.float32)
    g = tinyml.from_keras(km)
    assert np.abs(run_batches(GraphExecutor(g), x) - km.predict(x, batch_size=1, verbose=0)).max() < 1e-5
    cfg = calibrate(g, x)
    _check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))


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
    _check_exported(q, nhwc(x), tmp_path / "check", n=3)

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


@pytest.mark.skipif(not tf_available(), reason="the digits example compares with TensorFlow's converter")
def test_digits_example(tmp_path):
    emulate = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
    cmd = [sys.executable, str(ROOT / "examples" / "digits" / "run.py"), "--out", str(tmp_path / "d"),
           "--epochs", "10", "--emulate-images", "1"] + ([] if emulate else ["--no-emulate"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((tmp_path / "d" / "results.json").read_text())
    for k in ("float_acc", "int8_acc", "mixed_acc", "tflite_ptq_acc", "int8_weight_bytes", "mixed_weight_bytes",
              "int8_tflite", "test_data"):
        assert k in res
    assert all(v is True for k, v in res["checks"].items() if k != "keras_twin_matches_torch")
    assert res["checks"]["keras_twin_matches_torch"] < 1e-4
    assert res["mixed_weight_bytes"] <= 0.6 * res["int8_weight_bytes"]
    # the exported model and test data reproduce int8_acc with TFLM independently
    data = np.load(res["test_data"])
    buf = Path(res["int8_tflite"]).read_bytes()
    q = parse_tflite(buf)
    pred = [tflm_run(buf, [quantize_input(q, data["x"][i:i + 1])], 1)[0].argmax() for i in range(len(data["x"]))]
    assert np.isclose(np.mean(np.array(pred) == data["y"]), res["int8_acc"])


class Decoder(nn.Module):
    """A U-Net-style decoder: nearest and bilinear upsampling (both align_corners settings) between convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.near = nn.Upsample(scale_factor=2, mode="nearest")
        self.mid = nn.Conv2d(6, 6, 3, padding=1)
        self.bil = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.out = nn.Conv2d(6, 2, 1)

    def forward(self, x):
        y = self.mid(torch.relu(self.near(torch.relu(self.enc(x)))))
        y = self.bil(y) + nn.functional.interpolate(y, size=(20, 16), mode="bilinear", align_corners=True)
        return self.out(y)


def test_upsampling(tmp_path):
    torch.manual_seed(0)
    m = Decoder().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert OpKind.RESIZE_NEAREST_NEIGHBOR in kinds and kinds.count(OpKind.RESIZE_BILINEAR) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))
    with pytest.raises(UnsupportedOpError, match="whole scale factors"):
        tinyml.from_torch(nn.Upsample(size=(7, 7), mode="nearest"), torch.zeros(1, 1, 4, 4))


class UpConv(nn.Module):
    """Transposed convolutions as PyTorch U-Nets use them: stride 2 with padding 1 and output padding 1 (cropped
    after a VALID TRANSPOSE_CONV), without padding, and with a 2x2 kernel and no bias."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(6, 5, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(5, 4, 3, stride=1)
        self.up3 = nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)

    def forward(self, x):
        return self.up3(torch.relu(self.up2(torch.relu(self.up1(torch.relu(self.enc(x)))))))


def test_transposed_convolutions(tmp_path):
    torch.manual_seed(0)
    m = UpConv().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.TRANSPOSE_CONV) == 3 and OpKind.STRIDED_SLICE in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class PReLUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.PReLU(6, init=0.2)
        self.conv2 = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.act2 = nn.PReLU(init=0.1)
        self.fc = nn.Linear(4 * 5 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.act2(self.conv2(self.act(self.conv(x)))), 1))


def test_prelu(tmp_path):
    torch.manual_seed(0)
    m = PReLUNet().eval()
    with torch.no_grad():
        m.act.weight.uniform_(-0.3, 0.5)
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert [op.kind for op in g.ops].count(OpKind.PRELU) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class SubPixel(nn.Module):
    """A super-resolution / focus block: PixelShuffle after a convolution, PixelUnshuffle before one, and a
    PixelShuffle whose channel order needs no reordering (one channel per block position)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)
        self.c2 = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.PixelUnshuffle(2)
        self.c3 = nn.Conv2d(32, 4, 1)
        self.up1 = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.down(torch.relu(self.c2(self.up(torch.relu(self.c1(x))))))
        return self.up1(self.c3(y))


def test_pixel_shuffle(tmp_path):
    """PixelShuffle / PixelUnshuffle become DEPTH_TO_SPACE / SPACE_TO_DEPTH with a GATHER that puts the channels in
    TFLite's order: equal to PyTorch in float, bit-exact with TFLM once quantized."""
    torch.manual_seed(0)
    m = SubPixel().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 6, 4)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.DEPTH_TO_SPACE) == 2 and OpKind.SPACE_TO_DEPTH in kinds
    assert kinds.count(OpKind.GATHER) == 2  # the last shuffle (four channels, one per position) needs none
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class MaxMin(nn.Module):
    """Branches joined by torch.maximum and torch.minimum (tensor-tensor, and against a constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 1)
        self.c = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.d = nn.Conv2d(6, 4, 3, stride=2, padding=1)

    def forward(self, x):
        y = torch.maximum(self.a(x), torch.relu(self.b(x)))
        return torch.minimum(self.c(y), torch.tensor(0.75)) + torch.max(self.c(y), torch.min(self.d(y),
                                                                                           torch.tensor(0.5)))


def test_maximum_minimum(tmp_path):
    """torch.maximum/minimum and torch.max/min of two tensors: MAXIMUM/MINIMUM, whose inputs PTQ quantizes as their
    output (TFLM compares raw int8
    values): equal to PyTorch in float, bit-exact with TFLM once quantized."""
    torch.manual_seed(0)
    m = MaxMin().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.MAXIMUM) == 2 and kinds.count(OpKind.MINIMUM) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    q = quantize_graph(g, cfg)
    for op in q.ops:
        if op.kind in (OpKind.MAXIMUM, OpKind.MINIMUM):
            assert {q.tensor(i).quant for i in op.inputs} == {q.tensor(op.outputs[0]).quant}
    _check_exported(q, nhwc(x), tmp_path, GraphExecutor(g, cfg))


class Permuted(nn.Module):
    """Axes swapped between convolutions: H and W (permute), and channels with W (transpose)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 5, 3, padding=1)
        self.b = nn.Conv2d(5, 4, 3, padding=1)
        self.c = nn.Conv2d(10, 3, 1)

    def forward(self, x):
        y = self.b(torch.relu(self.a(x)).permute(0, 1, 3, 2))
        return self.c(torch.transpose(y, 1, 3))


def test_permute_and_transpose(tmp_path):
    torch.manual_seed(0)
    m = Permuted().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 7)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert [op.kind for op in g.ops].count(OpKind.TRANSPOSE) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class Attention(nn.Module):
    """One attention head over tokens: Linear projections of [batch, tokens, features], a matmul against the
    transposed keys, softmax, bmm with the values, and an output projection."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.k = nn.Linear(8, 8)
        self.v = nn.Linear(8, 6)
        self.o = nn.Linear(6, 4)

    def forward(self, x):
        a = torch.softmax(torch.matmul(self.q(x), self.k(x).transpose(1, 2)) * 0.35, dim=-1)
        return self.o(torch.relu(torch.bmm(a, self.v(x))))


def test_attention_matmul(tmp_path):
    torch.manual_seed(0)
    m = Attention().eval()
    x = np.random.default_rng(0).normal(size=(32, 5, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.BATCH_MATMUL) == 2 and OpKind.TRANSPOSE in kinds and OpKind.SOFTMAX in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    _check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))


class TokenBlock(nn.Module):
    """A transformer-style block: LayerNorm, an attention head, a residual add, LayerNorm without affine."""

    def __init__(self) -> None:
        super().__init__()
        self.n1 = nn.LayerNorm(8)
        self.att = Attention()
        self.up = nn.Linear(4, 8)
        self.n2 = nn.LayerNorm(8, elementwise_affine=False)

    def forward(self, x):
        return self.n2(x + self.up(self.att(self.n1(x))))


def test_layer_norm(tmp_path):
    torch.manual_seed(0)
    m = TokenBlock().eval()
    with torch.no_grad():
        m.n1.weight.uniform_(0.5, 1.5)
        m.n1.bias.uniform_(-0.3, 0.3)
    x = np.random.default_rng(0).normal(size=(32, 5, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.RSQRT) == 2 and kinds.count(OpKind.SQUARED_DIFFERENCE) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-4
    cfg = calibrate(g, x)
    _check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))


class KeywordLSTM(nn.Module):
    """An LSTM keyword spotter: two stacked LSTM layers over [batch, steps, features], the last step classified."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(10, 12, num_layers=2, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def test_lstm_unrolled(tmp_path):
    """nn.LSTM unrolled over its steps (FULLY_CONNECTED per gate, LOGISTIC/TANH, MUL/ADD cell updates): equal to
    PyTorch in float, bit-exact with TFLM once quantized; the unused output sequence is not computed."""
    torch.manual_seed(0)
    m = KeywordLSTM().eval()
    x = np.random.default_rng(0).normal(size=(32, 6, 10)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    # three sigmoid gates per step and layer, but no forget gate at the first step (no cell state yet)
    assert kinds.count(OpKind.LOGISTIC) == 2 * (6 * 3 - 1) and OpKind.CONCATENATION not in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    _check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))
    class Sequence(nn.Module):  # the whole output sequence: a CONCATENATION of the steps
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(10, 5, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]
    seq = Sequence().eval()
    g = tinyml.from_torch(seq, torch.tensor(x[:1]))
    assert OpKind.CONCATENATION in [op.kind for op in g.ops]
    with torch.no_grad():
        want = seq(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    # bit-exact with TFLM (the steps' outputs requantized into the sequence's quantization, so the integer graph
    # no longer aligns op for op with the fake-quantized one, and the recurrence carries rounding from step to step)
    _check_exported(quantize_graph(g, cfg), x, tmp_path / "seq")
    with pytest.raises(UnsupportedOpError, match="final state"):
        class State(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(10, 12, batch_first=True)

            def forward(self, x):
                return self.lstm(x)[1][0]
        tinyml.from_torch(State(), torch.tensor(x[:1]))


class Pieces(nn.Module):
    """torch.split (sizes and a split size), chunk, unbind and stack between convolutions and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(2, 4, 1)
        self.fc = nn.Linear(4 * 5 * 4, 6)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        y = torch.relu(self.a(x))
        p, q = torch.split(y, [2, 4], dim=1)
        r, s = torch.chunk(q, 2, dim=1)
        u = torch.split(p + r * s, 1, dim=1)
        z = self.b(torch.cat([u[1], u[0]], dim=1))
        f = self.fc(torch.flatten(z, 1)).reshape(-1, 2, 3)
        g, h = torch.unbind(f, dim=1)
        return self.out(torch.stack([g, h * 0.5], dim=1))


def test_split_chunk_unbind_stack(tmp_path):
    torch.manual_seed(0)
    m = Pieces().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 5, 4)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    _check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


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
    _check_exported(q, nhwc(x[128:]), tmp_path / "w16", n=3)
    mixed = compress(g, nhwc(x[:128]), nhwc(x[128:]), activations="mixed", sram_budget=r16.chosen.peak_sram - 1)
    # all-16x8 does not fit; 16x8 from a cut point to the output does, and loses least (the output's precision
    # dominates here): int8 and int16 ops meet at a QUANTIZE
    assert 0 < len(mixed.chosen.wide) < len(r16.chosen.wide) and mixed.chosen.loss < r8.chosen.loss / 4
    assert any(op.kind is OpKind.QUANTIZE for op in mixed.graph.ops)
    _check_exported(mixed.graph, nhwc(x[128:]), tmp_path / "mixed", n=3)
    with pytest.raises(TinymlError, match="--activations 'int4'"):
        compress(g, nhwc(x[:8]), activations="int4")
