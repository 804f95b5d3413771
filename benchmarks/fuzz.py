"""Fuzz tinyml with hostile models (tests/support/fuzzing.py): byte flips, truncations and structural mutations of the
shared models, each through inspect, compile and run in a process of its own.

    python benchmarks/fuzz.py --n 10000 [--seed 0] [--jobs 2] [--timeout 120] [--models ../shared/models]
                              [--asan 50]

Prints the count per class: ok (accepted and ran), clean (a one-paragraph error), internal (the CLI's
internal-error report), traceback, signal, hang; lists every mutant that is not ok or clean (and saves it under
--keep DIR). --asan N also builds N of the mutants that compiled with AddressSanitizer + UndefinedBehaviorSanitizer
and runs them (a finding is listed). Exit status 1 on any traceback, signal, hang, internal error or sanitizer
finding. A benchmark, not a test: tests/test_hardening.py runs a small sample.
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))


def asan_check(model: bytes) -> str | None:
    """Compile `model`, build the generated C with ASan/UBSan and run it; a finding's text, or None."""
    import numpy as np

    import tinyml
    from tinyml.errors import TinymlError
    from tinyml.resources import runtime_dir
    cc = shutil.which("gcc") or shutil.which("clang")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(model)
        try:
            rep = tinyml.compile(p, Path(d) / "out", patch="off")
        except TinymlError:
            return None
        out = Path(d) / "out"
        exe = Path(d) / "asan"
        srcs = sorted(str(s) for s in out.glob("*.c")) + [str(runtime_dir() / "host" / "tml_host_main.c")]
        r = subprocess.run([cc, "-std=c99", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            f"-DTML_PREFIX={rep['prefix']}", "-I", str(out), "-o", str(exe), *srcs, "-lm"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"the sanitizer build failed: {r.stderr[-500:]}"
        rs = np.random.RandomState(1)
        ins = []
        for k, s in enumerate(rep["inputs"]):
            x = rs.randint(-128, 128, size=s["shape"]).astype(np.dtype(s["dtype"])) if s["dtype"] != "float32" \
                else rs.uniform(-1, 1, s["shape"]).astype(np.float32)
            ins.append(Path(d) / f"in{k}.bin")
            ins[-1].write_bytes(x.tobytes())
        outs = [str(Path(d) / f"out{k}.bin") for k in range(len(rep["outputs"]))]
        r = subprocess.run([str(exe), *map(str, ins), "--", *outs], capture_output=True, text=True, timeout=300)
        return None if r.returncode == 0 else f"exit {r.returncode}: {r.stderr[-800:]}"


def main() -> int:
    import fuzzing
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    ap.add_argument("--asan", type=int, default=0, help="mutants that compiled to rebuild and run under ASan/UBSan")
    ap.add_argument("--keep", help="directory to save the mutants that are not ok or clean")
    a = ap.parse_args()
    models = fuzzing.corpus(Path(a.models))
    if not models:
        print(f"no models under {a.models}")
        return 2
    rng = random.Random(a.seed)
    mutants = [fuzzing.mutate(models[n % len(models)], rng) for n in range(a.n)]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        results = list(pool.map(lambda km: fuzzing.exercise(km[1], a.timeout), mutants))
    counts: Counter = Counter()
    bad = 0
    compiled = []
    for n, ((kind, model), (cls, detail)) in enumerate(zip(mutants, results)):
        counts[cls] += 1
        counts[f"{kind}:{cls}"] += 1
        if cls == "ok":
            compiled.append(model)
        if cls not in ("ok", "clean"):
            bad += 1
            print(f"mutant {n} ({kind}): {cls}: {detail[:400]}")
            if a.keep:
                Path(a.keep).mkdir(parents=True, exist_ok=True)
                (Path(a.keep) / f"mutant_{n}_{kind}_{cls}.tflite").write_bytes(model)
    findings = 0
    for model in compiled[:a.asan]:
        f = asan_check(model)
        if f:
            findings += 1
            print(f"sanitizer finding: {f}")
    print(f"\n{a.n} mutants (seed {a.seed}) through inspect, compile and run in {time.time() - t0:.0f} s: "
          + ", ".join(f"{counts[c]} {c}" for c in ("ok", "clean", "internal", "traceback", "signal", "hang")))
    print("by mutation: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if ":" in k))
    if a.asan:
        print(f"{min(a.asan, len(compiled))} compiled mutants under ASan/UBSan: {findings} findings")
    return 1 if bad or findings else 0


if __name__ == "__main__":
    sys.exit(main())
