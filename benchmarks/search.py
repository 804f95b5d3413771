"""The compression search's grid against Optuna's TPE, on MNIST-1D (examples/mnist1d's 1-D CNN).

    python benchmarks/search.py [--epochs 30] [--trials 12 24] [--budgets 0.5 0.55 0.6] [--seed 0] [--finetune 8]

For each flash budget (a fraction of the int8 weight bytes): the grid's pick (every int4 prefix of the layers'
sensitivity order; below what int4 everywhere reaches, the same for 25%, 50%, 75% of every convolution's channels
pruned) and TPE's (per-layer widths sampled under the budget, `--trials` per prune ratio; where pruning is needed,
each convolution's prune ratio and each layer's width sampled together, `--trials` in all): validation accuracy
(fake-quantized, within one LSB of the integer model), weight bytes, the test accuracy of the integer model through
the reference executor, the candidates scored and the seconds. Pruned networks are fine-tuned `--finetune` epochs
on the calibration signals first.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "mnist1d"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--trials", type=int, nargs="+", default=[12, 24])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.55, 0.6])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--finetune", type=int, default=8, help="epochs of fine-tuning of each pruned network")
    a = ap.parse_args()
    import numpy as np
    import run as mnist1d  # examples/mnist1d/run.py
    import torch

    import tinyml
    from tinyml.quant import evaluate
    from tinyml.quant.compress import compress
    xtr, ytr, xte, yte = mnist1d.load_data()
    model = mnist1d.build_torch(a.seed)
    mnist1d.train(model, xtr[600:], ytr[600:], a.epochs, a.seed)
    nhwc = lambda v: np.ascontiguousarray(v.transpose(0, 2, 3, 1))  # noqa: E731
    g = tinyml.from_torch(model, torch.tensor(xtr[:1]))
    calib, vx, vy = nhwc(xtr[600:1112]), nhwc(xtr[:600]), ytr[:600]
    int8 = tinyml.quant.weight_bytes(tinyml.quantize(g, calib))
    print(f"int8 weights {int8:,} B")
    print(f"{'budget':>6} {'search':<10} {'pick':<28} {'val acc':>7} {'test acc':>8} {'bytes':>7} {'cands':>5} "
          f"{'s':>5}")
    for frac in a.budgets:
        for search, trials in [("grid", 0)] + [("tpe", t) for t in a.trials]:
            t0 = time.time()
            r = compress(g, calib, vx, vy, flash_budget=int(frac * int8), search=search, trials=trials or 48,
                         seed=a.seed, calib_y=ytr[600:1112], finetune_epochs=a.finetune)
            test = evaluate(r.graph, nhwc(xte), yte)["accuracy"]
            label = search if search == "grid" else f"tpe {trials}"
            print(f"{frac:>6.2f} {label:<10} {r.chosen.name[:28]:<28} {r.chosen.score:>7.4f} {test:>8.4f} "
                  f"{r.chosen.weight_bytes:>7,} {len(r.candidates):>5} {time.time() - t0:>5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
