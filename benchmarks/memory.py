"""Peak SRAM: tinyml's planned arena vs TFLM's arena (baseline.json) vs the max-layer-I/O lower bound.

    python benchmarks/memory.py [--models ../shared/models]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import tinyml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    a = ap.parse_args()
    base = json.loads((Path(a.models) / "baseline.json").read_text())["models"]
    print(f"{'model':32} {'tinyml peak':>11} {'TFLM head':>10} {'TFLM total':>10} {'io bound':>9} "
          f"{'vs head':>7} {'vs bound':>8}")
    ratios = []
    for m in base:
        rep = tinyml.inspect(Path(a.models) / m["file"])
        peak = rep["peak_sram_bytes"]
        ratios.append(peak / m["tflm_arena_head_bytes"])
        print(f"{m['file']:32} {peak:>11,} {m['tflm_arena_head_bytes']:>10,} {m['tflm_arena_used_bytes']:>10,} "
              f"{m['max_layer_io_bytes']:>9,} {peak / m['tflm_arena_head_bytes']:>7.2f} "
              f"{peak / m['max_layer_io_bytes']:>8.2f}")
    print(f"geometric mean of tinyml peak / TFLM head: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
