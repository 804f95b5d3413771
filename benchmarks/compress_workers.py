"""Wall time of the compression search with 1 and N workers, and what a repeated search reuses.

    python benchmarks/compress_workers.py [--workers 2] [--backend processes|ray] [--seed 0] [--search grid|tpe]

The task is examples/mnist1d's (a 1-D CNN on MNIST-1D, trained for a few epochs here), searched under a flash
budget of 45% of its int8 weight bytes (so that pruning ratios are fine-tuned and searched too), with 16x8
activation cut points (--activations mixed), calibrated on 3,400 and scored on all 4,000 training signals. Prints
the number of evaluations, the seconds of each run, the speedup, whether the picks and every candidate's score
are identical, and the reuse of a repeated search from the cache. `--search tpe`: per-layer widths sampled by
Optuna's TPE (--trials per prune ratio, int8 activations), the search whose candidates outnumber its serial steps.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "mnist1d"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", choices=("processes", "ray"), default="processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--activations", default="mixed", choices=("int8", "16x8", "mixed"),
                    help="mixed: 16x8 cut points too (more candidates)")
    ap.add_argument("--search", default="grid", choices=("grid", "tpe"))
    ap.add_argument("--trials", type=int, default=48)
    a = ap.parse_args()
    import numpy as np
    import run as mnist1d  # examples/mnist1d/run.py
    import torch

    import tinyml
    import tinyml.quant.pool as pool
    from tinyml.quant.compress import compress
    if a.backend == "processes":
        pool.have_ray = lambda: False
    xtr, ytr, _, _ = mnist1d.load_data()
    model = mnist1d.build_torch(a.seed)
    mnist1d.train(model, xtr[600:], ytr[600:], 10, a.seed)
    nhwc = lambda v: np.ascontiguousarray(v.transpose(0, 2, 3, 1))  # noqa: E731
    g = tinyml.from_torch(model, torch.tensor(xtr[:1]))
    calib, vx, vy = nhwc(xtr[600:]), nhwc(xtr), ytr  # the whole training set scores: heavier evaluations
    budget = int(0.45 * tinyml.quant.weight_bytes(tinyml.quantize(g, calib)))
    search = {"search": a.search, "trials": a.trials, "bits": "mixed"} if a.search == "tpe" else {}
    if a.search == "tpe":
        a.activations = "int8"  # TPE samples weight widths with int8 activations
    runs = {}
    for workers in (1, a.workers):
        t = time.time()
        runs[workers] = compress(g, calib, vx, vy, flash_budget=budget, calib_y=ytr[600:], finetune_epochs=3,
                                 workers=workers, activations=a.activations, **search)
        runs[workers].seconds = time.time() - t
    one, many = runs[1], runs[a.workers]
    same = [(c.name, c.score, c.loss) for c in one.candidates] == [(c.name, c.score, c.loss) for c in many.candidates]
    print(f"{one.evaluated} evaluations, {len(one.candidates)} candidates; 1 worker {one.seconds:.1f} s, "
          f"{a.workers} workers ({a.backend}) {many.seconds:.1f} s: {one.seconds / many.seconds:.2f}x; same pick "
          f"({one.chosen.name}) and scores: {one.chosen.name == many.chosen.name and same}")
    with tempfile.TemporaryDirectory() as d:
        first = compress(g, calib, vx, vy, flash_budget=budget, calib_y=ytr[600:], finetune_epochs=3,
                         cache_dir=Path(d), activations=a.activations, **search)
        t = time.time()
        again = compress(g, calib, vx, vy, flash_budget=budget, calib_y=ytr[600:], finetune_epochs=3,
                         cache_dir=Path(d), activations=a.activations, **search)
        print(f"repeated from the cache: {again.reused} of {again.evaluated} evaluations reused (first run "
              f"{first.reused}), {time.time() - t:.1f} s, same pick: {again.chosen.name == first.chosen.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
