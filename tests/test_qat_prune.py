"""Quantization-aware training and pruning: the exported model is the one trained, pruned graphs stay
consistent and are fine-tuned."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import needs_tflm

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.ir import OpKind  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from torchnets import check_exported, nhwc  # noqa: E402


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
    check_exported(q, nhwc(x), tmp_path, mod)


def test_qat_cosine_schedule_decays_to_zero(monkeypatch):
    """schedule="cosine": the learning rates fall to zero over the run (the last step nearly frozen); an unknown
    schedule is refused."""
    from tinyml.errors import TinymlError
    from tinyml.quant import qat
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3))
    x = np.random.default_rng(0).normal(size=(40, 1, 4, 4)).astype(np.float32)
    y = np.arange(40) % 3
    g = tinyml.from_torch(m.eval(), torch.tensor(x[:1]))
    seen = []
    real = torch.optim.Adam.step

    def step(self, *a, **k):
        seen.append([grp["lr"] for grp in self.param_groups])
        return real(self, *a, **k)
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    mod = qat.prepare(g, nhwc(x), weights="int4")
    qat.finetune(mod, nhwc(x), y, epochs=3, lr=1e-3, scale_lr=1e-2, batch=8, schedule="cosine")
    assert len(seen) == 15 and seen[0] == [1e-3, 1e-2]
    assert all(a[0] > b[0] for a, b in zip(seen, seen[1:])) and seen[-1][0] < 2e-5
    with pytest.raises(TinymlError, match="schedule"):
        qat.finetune(mod, nhwc(x), y, epochs=1, schedule="linear")


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
    check_exported(q, nhwc(x), tmp_path, n=3)


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
    check_exported(tuned.graph, xs, tmp_path, n=2)
