"""PyTorch models and checks the front-end and quantization tests share: a network with every supported
layer, and the export check (TFLM runs it, the generated C equals TFLM, the float graph is within one LSB)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from oracle import tflm_run

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.frontends.tflite_writer import write_tflite  # noqa: E402
from tinyml.harness.host import HostModel  # noqa: E402
from tinyml.interpreter import run_reference  # noqa: E402
from tinyml.ir import DType  # noqa: E402
from tinyml.quant import quantize_input  # noqa: E402
from tinyml.quant.executor import GraphExecutor, run_batches  # noqa: E402

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


def make_everything():
    """(the module, a batch of inputs, its float Graph): the `everything` fixture of conftest.py."""
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


def check_exported(q, x: np.ndarray, tmp_path: Path, ex: GraphExecutor | None = None, n: int = 6) -> None:
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
