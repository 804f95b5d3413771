"""Quantization accuracy benchmark on the digits example (not a test): tinyml's PTQ (each range estimator, with
and without bias correction), uniform int4, mixed int4/int8 under a flash budget of 60% of the int8 weights,
and TensorFlow's own TFLiteConverter PTQ of the same network rebuilt in Keras, over several training seeds.

    python benchmarks/quantization.py [--seeds 3] [--epochs 30]

Accuracies are on the 360 test images, from the integer models (tinyml's NumPy executor, which is bit-exact
with TFLM; the TFLite converter's model runs in the tflite-micro interpreter).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "digits"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args()
    import run as digits  # examples/digits/run.py
    import torch

    import tinyml
    from tinyml.quant.compress import compress
    xtr, ytr, xte, yte = digits.load_data()
    xfit, yfit, xval, yval = xtr[300:], ytr[300:], xtr[:300], ytr[:300]

    def nhwc(v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v.transpose(0, 2, 3, 1))
    cols = ["float", "int8 minmax", "int8 percentile", "int8 mse", "int8 no bias corr", "TFLite PTQ", "int4",
            "mixed"]
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for seed in range(a.seeds):
        torch.manual_seed(seed)
        model = digits.build_torch(seed)
        digits.train(model, xfit, yfit, a.epochs, seed)
        with torch.no_grad():
            fa = float((model(torch.tensor(xte)).argmax(1).numpy() == yte).mean())
        g = tinyml.from_torch(model, torch.tensor(xte[:1]))
        calib = nhwc(xfit[:256])

        def acc(q) -> float:  # noqa: ANN001
            return tinyml.evaluate(q, nhwc(xte), yte)["accuracy"]
        q8 = tinyml.quantize(g, calib)
        b8 = tinyml.quant.weight_bytes(q8)
        res = compress(g, calib, nhwc(xval), yval, flash_budget=int(0.6 * b8))
        q4 = tinyml.quantize(g, calib, weights="int4")
        ptq = digits.tflite_ptq(digits.keras_twin(model), calib, tmp / f"ptq{seed}.tflite")
        ptq_acc = float((digits.tflm_outputs(ptq, nhwc(xte)).argmax(1) == yte).mean())
        row = [fa, acc(q8), acc(tinyml.quantize(g, calib, estimator="percentile")),
               acc(tinyml.quantize(g, calib, estimator="mse")), acc(tinyml.quantize(g, calib, bias_correction=False)),
               ptq_acc, acc(q4), acc(res.graph)]
        rows.append(row)
        print(f"seed {seed}: " + ", ".join(f"{c} {v:.4f}" for c, v in zip(cols, row)) +
              f"; weight bytes int8 {b8:,}, int4 {tinyml.quant.weight_bytes(q4):,}, mixed "
              f"{tinyml.quant.weight_bytes(res.graph):,} ({res.chosen.name})", flush=True)
    mean = np.mean(rows, axis=0)
    print("\n| " + " | ".join(["seed"] + cols) + " |")
    print("|" + "---|" * (len(cols) + 1))
    for s, row in enumerate(rows):
        print(f"| {s} | " + " | ".join(f"{100 * v:.2f}" for v in row) + " |")
    print("| mean | " + " | ".join(f"{100 * v:.2f}" for v in mean) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
