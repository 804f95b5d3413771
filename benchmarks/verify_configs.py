"""Differential check of the compiler against TFLM over random CNNs x every memory configuration.

    python benchmarks/verify_configs.py --n 40 [--start 0] [--jobs 2] [--json results.json]
    python benchmarks/verify_configs.py --shared [--models ../shared/models]

For each seed a random small CNN (tests/support/randnets.py: PyTorch-exported with explicit PADs and padded stride-2
convolutions, or Keras with SAME padding; depthwise, pointwise, strides 1/2, dilation, residual ADDs, pooling,
concatenation, odd sizes from 7 to 64, int8, int4 and mixed weights) is compiled under every configuration
`tinyml compile` offers (layer by layer, the default, in-place/overlap/zero-copy off, every grid 2x2..4x4 and
R x 1 with recomputed and cached halos at every split point, streamed inputs, SRAM budgets that make the
compiler choose, and a 4 MiB budget it spends on speed), with the compiler's own self-check switched off, and
the generated C is compared with the `tflite-micro` interpreter on two random inputs. Prints one line per net and
a summary: pairs run, pairs refused with a clear error (a budget nothing meets, a grid that does not fit),
mismatches and internal errors (each listed). Exit status 1 if any pair mismatches or ends in an internal error.
A benchmark, not a test: tests/test_verify.py runs a fixed sample.

--shared: the same for every model in ../shared/models, under every configuration the budget search can return
(one SRAM budget per distinct pick, with the input in the arena and streamed), the default, layer by layer, and
compiled for mps2-an386 (a budget with room to spare, which the plan spends on speed).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def one(seed: int) -> dict:
    import warnings
    warnings.filterwarnings("ignore")
    import randnets
    net = randnets.random_net(seed)
    t = time.time()
    try:
        tflite = randnets.build(net)
    except Exception as e:  # a net a front end refuses is skipped, and said so
        return {"seed": seed, "net": net.describe(), "error": f"{type(e).__name__}: {e}", "outcomes": []}
    with tempfile.TemporaryDirectory(prefix="tinyml-verify-") as d:
        res = randnets.check_net(tflite, d)
    return {"seed": seed, "net": net.describe(), "seconds": round(time.time() - t, 1),
            "outcomes": [vars(r) for r in res]}


def shared(models: Path) -> int:
    import randnets
    from oracle import tflm_run

    from tinyml.compiler import CompileOptions, compile_model, parse_tflite
    from tinyml.harness.host import HostModel
    from tinyml.verify import graph_inputs
    bad = total = 0
    t0 = time.time()
    for m in sorted(models.glob("*.tflite")):
        data = m.read_bytes()
        g = parse_tflite(data, m.name)
        xs = [graph_inputs(g, s) for s in (0, 1)]
        want = [tflm_run(data, x, len(g.outputs)) for x in xs]
        confs = [("default", CompileOptions()), ("off", CompileOptions(patch="off")),
                 ("board mps2-an386", CompileOptions(board="mps2-an386"))]  # its 4 MB of SRAM spent on speed
        confs += [(f"budget {b}", o) for b, o in randnets.budget_picks(data, m.name)]
        confs += [(f"budget {b},stream", o) for b, o in randnets.budget_picks(data, m.name, stream=True)]
        line = []
        with tempfile.TemporaryDirectory(prefix="tinyml-verify-") as d:
            for n, (label, opts) in enumerate(confs):
                rep = compile_model(m, Path(d) / f"c{n}", dataclasses.replace(opts, verify=False))
                host = HostModel(Path(d) / f"c{n}")
                ok = all(np.array_equal(a.reshape(-1), b.reshape(-1)) for x, w in zip(xs, want)
                         for a, b in zip(host.run(x), w))
                total += 1
                bad += not ok
                line.append(f"{label} -> {rep['verification']['configuration']}, {rep['peak_sram_bytes']:,} B: "
                            f"{'exact' if ok else 'MISMATCH'}")
        print(f"{m.name}:\n  " + "\n  ".join(line), flush=True)
    print(f"\n{total} shared-model configurations (every budget pick, default, layer by layer, board): {total - bad} "
          f"bit-exact with TFLM, {bad} mismatches; {time.time() - t0:.0f} s")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="number of random nets")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="write every outcome to this file")
    ap.add_argument("--shared", action="store_true", help="check the shared models' budget picks instead")
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    a = ap.parse_args()
    if a.shared:
        return shared(Path(a.models))
    seeds = range(a.start, a.start + a.n)
    total: Counter = Counter()
    bad, results = [], []
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        for r in pool.map(one, seeds):
            results.append(r)
            c = Counter(o["status"] for o in r["outcomes"])
            total.update(c)
            if r.get("error"):
                total["nets skipped"] += 1
            print(f"{r['net']}: " + (f"skipped ({r['error']})" if r.get("error") else
                                     f"{c['exact']} exact, {c['refused']} refused, {c['MISMATCH']} mismatches, "
                                     f"{c['INTERNAL']} internal errors "
                                     f"({r['seconds']} s)"), flush=True)
            for o in r["outcomes"]:
                if o["status"] in ("MISMATCH", "INTERNAL"):
                    bad.append((r["seed"], o["label"], o["detail"]))
                    print(f"    {o['status']} {o['label']}: {o['detail']}", flush=True)
    run = total["exact"] + total["MISMATCH"] + total["INTERNAL"]
    print(f"\n{a.n} nets (seeds {a.start}..{a.start + a.n - 1}), {run} graph x configuration pairs compiled and "
          f"run: {total['exact']} bit-exact with TFLM, {total['MISMATCH']} mismatches; {total['INTERNAL']} internal "
          f"errors; {total['refused']} pairs refused with a clear error; {total['nets skipped']} nets skipped; "
          f"{time.time() - t0:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
