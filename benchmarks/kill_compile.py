"""SIGKILL `tinyml compile` at random moments and check the output directory after every kill.

    python benchmarks/kill_compile.py --n 100 [--seed 0] [--model A.tflite --other B.tflite]

Compiles model A into a fresh OUTDIR, then N times starts compiling the other model over it and kills the
compile with SIGKILL after a random delay (0 to a little more than one compile's duration). After each kill
OUTDIR must be a complete output, the old one or the new one (every file its report.json lists, with the hash it
records); after the last, one more compile must leave no temporary directory beside OUTDIR. Prints how many kills
left the old output, how many the new one, and exits 1 on any other state. Without --model/--other it builds two
small PyTorch nets (tests/support/randnets.py). A benchmark, not a test: tests/test_hardening.py kills a few.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))


def main() -> int:
    import fuzzing
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model")
    ap.add_argument("--other")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tinyml-kill-") as d:
        work = Path(d)
        if a.model and a.other:
            ma, mb = work / "a.tflite", work / "b.tflite"
            ma.write_bytes(Path(a.model).read_bytes())
            mb.write_bytes(Path(a.other).read_bytes())
        else:
            from dataclasses import replace

            from randnets import build
            from test_hardening import NET
            ma, mb = work / "a.tflite", work / "b.tflite"
            ma.write_bytes(build(NET))
            mb.write_bytes(build(replace(NET, seed=8, classes=3)))
        one = 0.0
        for m in (ma, mb):  # both models once (their host builds are cached from then on), the slower sets the range
            t0 = time.time()
            r = fuzzing._cli("compile", m, "-o", work / f"probe_{m.stem}")
            if r.returncode != 0:
                print(r.stderr)
                return 2
            one = max(one, time.time() - t0)
        rng = random.Random(a.seed)
        delays = [rng.uniform(0.0, one * 1.15) for _ in range(a.n)]
        t0 = time.time()
        try:
            seen = fuzzing.kill_during_compile(ma, mb, work / "out", delays)
        except AssertionError as e:
            print(f"FAILED: {e}")
            return 1
        c = Counter(seen)
        print(f"{a.n} SIGKILLs during compile (delays 0 to {one * 1.15:.2f} s, one compile takes {one:.2f} s), "
              f"{time.time() - t0:.0f} s: OUTDIR held the old complete output after {c['old']}, the new complete "
              f"output after {c['new']}, anything else after 0; no temporary directory left after the next compile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
