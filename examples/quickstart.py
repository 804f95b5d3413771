"""Quick start: make a small int8 model, compile it with tinyml, run the generated C, check it against TFLM.

The model is built here, from data that ships offline: a small CNN trained for a few seconds on scikit-learn's
8x8 handwritten digits (fixed train/test split), converted to full int8 with TensorFlow's TFLiteConverter.

    python examples/quickstart.py --out out/quickstart
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_model(out: Path, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # [n, 8, 8, 1] in [0, 1]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=seed, stratify=d.target)
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    inp = tf.keras.Input((8, 8, 1), batch_size=1)
    h = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = L.Conv2D(24, 1, activation="relu")(h)
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    y = L.Dense(10, activation="softmax")(h)
    train = tf.keras.Model(inp, y)
    # train with a free batch size, then export the batch-1 model that shares its weights
    tin = tf.keras.Input((8, 8, 1))
    trainer = tf.keras.Model(tin, train(tin))
    trainer.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer.fit(xtr, ytr, epochs=12, batch_size=32, verbose=0)
    float_acc = float(trainer.evaluate(xte, yte, verbose=0)[1])

    def rep():
        for i in range(0, 200):
            yield [xtr[i:i + 1]]
    conv = tf.lite.TFLiteConverter.from_keras_model(train)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    path = out / "digits_int8.tflite"
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel signature
        path.write_bytes(conv.convert())
    print(f"trained a {len(train.layers) - 1}-layer CNN on digits: float test accuracy {float_acc:.3f}")
    return path, xte, yte


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/quickstart", help="output directory")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    import tinyml
    model, xte, yte = make_model(out)
    report = tinyml.compile(model, out / "c")  # same as: tinyml compile digits_int8.tflite -o c
    print(f"compiled to {out / 'c'}: peak SRAM {report['peak_sram_bytes']} B, flash {report['flash_bytes']} B, "
          f"{report['macs']} MACs")
    spec = report["inputs"][0]
    q = np.clip(np.round(xte / spec["scale"]) + spec["zero_point"], -128, 127).astype(np.int8)
    preds, outs = [], []
    for xi in q:
        y = tinyml.run(out / "c", [xi[None]])[0]
        outs.append(y)
        preds.append(int(np.argmax(y)))
    acc = float(np.mean(np.array(preds) == yte))
    print(f"int8 accuracy of the generated C on {len(yte)} test digits: {acc:.3f}")
    result = {"int8_c_accuracy": acc, "peak_sram_bytes": report["peak_sram_bytes"],
              "flash_bytes": report["flash_bytes"], "model": str(model)}
    try:
        from tflite_micro import runtime
    except ImportError:
        print("tflite-micro not installed: skipping the TFLM cross-check (pip install tflite-micro)")
    else:
        ip = runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=1 << 20)
        same = 0
        for xi, y in zip(q, outs):
            ip.set_input(xi[None], 0)
            ip.invoke()
            same += int(np.array_equal(ip.get_output(0), y))
        print(f"generated C vs TFLM: {same}/{len(q)} outputs byte-identical")
        result["bit_exact_vs_tflm"] = f"{same}/{len(q)}"
        if same != len(q):
            return 1
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
