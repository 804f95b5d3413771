"""Zero-copy CONCATENATION: peak SRAM with copies vs with producers writing into the output's slices.

    python benchmarks/concat.py

None of the shared models concatenates, so this benchmark converts the project's own test models with
TensorFlow's TFLiteConverter (the concatenation cases of tests/support/opplan.py: an Inception-style CNN with
two channel concatenations, channel and column concatenations of two convolutions, and two FULLY_CONNECTED
outputs joined) and prints, in bytes: TFLM's non-persistent arena (its interpreter's print_allocations(), when
tflite-micro is
installed), the max-layer-I/O bound, tinyml with copies (--no-zero-copy-concat) and tinyml by default. Every
configuration is bit-exact with TFLM (tests/test_memory.py::test_zero_copy_concatenation). This is a benchmark,
not a test: it prints a table and asserts nothing. Needs tensorflow-cpu.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=UserWarning)  # the converter's notes on int8 I/O

from memory import tflm_arena  # noqa: E402

from tinyml.compiler import CompileOptions, analyze  # noqa: E402
from tinyml.memory import arena_bytes, max_layer_io  # noqa: E402

CASES = ("cnn_inception", "concat_channels", "concat_width", "dense_concat")


def main() -> int:
    from opplan import PLAN, build_tflite
    hdr = f"{'model':18} {'TFLM head':>9} {'io bound':>8} {'copies':>7} {'zero-copy':>9} {'saved':>6} {'vs TFLM':>7}"
    print(hdr)
    print("-" * len(hdr))
    with tempfile.TemporaryDirectory() as d:
        for name in CASES:
            data = build_tflite(next(c for c in PLAN if c["name"] == name))
            path = Path(d) / f"{name}.tflite"
            path.write_bytes(data)
            measured = tflm_arena(path)
            peaks = {}
            for zc in (False, True):
                c = analyze(data, name, CompileOptions(zero_copy_concat=zc))
                peaks[zc] = arena_bytes(c.buffers, c.plan)
            head = f"{measured[0]:>9,}" if measured else f"{'-':>9}"
            ratio = f"{peaks[True] / measured[0]:>7.2f}" if measured else f"{'-':>7}"
            print(f"{name:18} {head} {max_layer_io(c.graph):>8,} {peaks[False]:>7,} {peaks[True]:>9,} "
                  f"{1 - peaks[True] / peaks[False]:>6.1%} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
