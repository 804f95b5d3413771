"""End to end on real data that ships offline: PyTorch -> int8 and mixed int4/int8 -> C -> host and emulator.

scikit-learn's 8x8 handwritten digits, upsampled to 16x16, fixed stratified split (1,437 train, 360 test; 300
of the training images are held out as validation data for the compression search).  A small CNN is trained
in PyTorch on the CPU, imported with `tinyml.from_torch`, quantized to int8 (post-training, calibrated on 256
training images) and compressed to mixed int4/int8 weights under a flash budget of 60% of the int8 weights.
Both are exported as .tflite, compiled to C, run on the host for the whole test set (every output compared with
the tflite-micro interpreter) and on QEMU (mps2-an386) for a few test images.  The same network, rebuilt in
Keras with the trained weights, goes through TensorFlow's own TFLiteConverter PTQ for comparison.

    python examples/digits/run.py --out out/digits [--no-emulate] [--epochs 30]

DIR/results.json: float_acc, int8_acc, mixed_acc, int4_acc, tflite_ptq_acc, int8_weight_bytes,
mixed_weight_bytes, int8_tflite, mixed_tflite, test_data (float test inputs `x` in the exported model's NHWC
input layout, labels `y`), and the checks made on the way.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = np.kron(d.images / 16.0, np.ones((2, 2))).astype(np.float32)[:, None]  # [n, 1, 16, 16] NCHW
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=seed, stratify=d.target)
    return xtr, ytr, xte, yte


def build_torch(seed: int = 0):  # noqa: ANN201
    import torch
    from torch import nn
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),            # 8x8
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),          # 4x4
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6(),                                  # depthwise
        nn.Conv2d(16, 24, 1), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(24 * 16, 32), nn.ReLU(), nn.Linear(32, 10))


def train(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> None:  # noqa: ANN001
    import torch
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for s in range(0, len(xt), 32):
            idx = perm[s:s + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    model.eval()


def keras_twin(model):  # noqa: ANN001, ANN201
    """The same network in Keras, carrying the trained PyTorch weights (BatchNorm included, unfolded)."""
    import tensorflow as tf
    L = tf.keras.layers
    t = [m for m in model]
    inp = tf.keras.Input((16, 16, 1), batch_size=1)

    def conv(m, groups: bool = False):  # noqa: ANN001, ANN202
        w = m.weight.detach().numpy()
        if groups:
            layer = L.DepthwiseConv2D(3, padding="same")
            return layer, [w.transpose(2, 3, 0, 1), m.bias.detach().numpy()]
        layer = L.Conv2D(w.shape[0], w.shape[2], padding="same")
        return layer, [w.transpose(2, 3, 1, 0), m.bias.detach().numpy()]

    def bn(m):  # noqa: ANN001, ANN202
        return L.BatchNormalization(epsilon=m.eps), [m.weight.detach().numpy(), m.bias.detach().numpy(),
                                                    m.running_mean.numpy(), m.running_var.numpy()]
    layers = [conv(t[0]), bn(t[1]), (L.ReLU(), None), (L.MaxPooling2D(2), None),
              conv(t[4]), bn(t[5]), (L.ReLU(), None), (L.MaxPooling2D(2), None),
              conv(t[8], groups=True), (L.ReLU(6.0), None), conv(t[10]), (L.ReLU(), None),
              (L.Permute((3, 1, 2)), None), (L.Flatten(), None)]  # PyTorch flattens C, H, W
    h = inp
    for layer, weights in layers:
        h = layer(h)
        if weights is not None:
            layer.set_weights(weights)
    for m in (t[14], t[16]):
        layer = L.Dense(m.out_features, activation="relu" if m is t[14] else None)
        h = layer(h)
        layer.set_weights([m.weight.detach().numpy().T, m.bias.detach().numpy()])
    return tf.keras.Model(inp, h)


def tflite_ptq(kmodel, calib: np.ndarray, path: Path) -> Path:  # noqa: ANN001
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(kmodel)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        path.write_bytes(conv.convert())
    return path


def tflm_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """int8 outputs of the tflite-micro interpreter for float NHWC inputs x (quantized with its input params)."""
    from tflite_micro import runtime
    ip = runtime.Interpreter.from_file(str(path), arena_size=200_000)
    d = ip.get_input_details(0)
    s, z = d["quantization_parameters"]["scales"][0], d["quantization_parameters"]["zero_points"][0]
    outs = []
    for xi in x:
        ip.set_input(np.clip(np.round(xi[None] / s) + z, -128, 127).astype(np.int8), 0)
        ip.invoke()
        outs.append(ip.get_output(0).copy())
    return np.concatenate(outs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--no-emulate", action="store_true", help="skip the QEMU run (no arm-none-eabi toolchain)")
    ap.add_argument("--emulate-images", type=int, default=3)
    a = ap.parse_args()
    import torch

    import tinyml
    from tinyml.quant import quantize_input
    from tinyml.quant.compress import compress, pareto
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    xtr, ytr, xte, yte = load_data()
    xfit, yfit, xval, yval = xtr[300:], ytr[300:], xtr[:300], ytr[:300]
    model = build_torch()
    train(model, xfit, yfit, a.epochs)
    with torch.no_grad():
        float_acc = float((model(torch.tensor(xte)).argmax(1).numpy() == yte).mean())
    print(f"trained in {time.time() - t0:.1f} s: float test accuracy {float_acc:.4f}")

    nhwc = lambda v: np.ascontiguousarray(v.transpose(0, 2, 3, 1))  # noqa: E731
    calib = nhwc(xfit[:256])
    g = tinyml.from_torch(model, torch.tensor(xte[:1]), name="digits_cnn")
    q8 = tinyml.quantize(g, calib)
    int8_path = tinyml.export_tflite(q8, out / "digits_int8.tflite")
    int8_bytes = tinyml.quant.weight_bytes(q8)
    q4 = tinyml.quantize(g, calib, weights="int4")
    int4_path = tinyml.export_tflite(q4, out / "digits_int4.tflite")
    budget = int(0.6 * int8_bytes)
    res = compress(g, calib, nhwc(xval), yval, flash_budget=budget)
    mixed_path = tinyml.export_tflite(res.graph, out / "digits_mixed.tflite")
    mixed_bytes = tinyml.quant.weight_bytes(res.graph)
    print(f"int8 weights {int8_bytes:,} B; flash budget {budget:,} B -> {res.chosen.name}, {mixed_bytes:,} B")
    print("Pareto front (validation accuracy vs weight bytes, fake-quantized):")
    for c in pareto(res.candidates):
        print(f"  {c.name:<28} {c.weight_bytes:>8,} B  {c.score:.4f}")

    x_test = nhwc(xte)
    np.savez(out / "test_data.npz", x=x_test, y=yte)
    accs, checks = {}, {}
    for name, path, q in (("int8", int8_path, q8), ("mixed", mixed_path, res.graph), ("int4", int4_path, q4)):
        cdir = out / f"c_{name}"
        if cdir.exists():
            shutil.rmtree(cdir)
        tinyml.compile(path, cdir)
        from tinyml.harness.host import HostModel
        host = HostModel(cdir)
        xq = quantize_input(q, x_test)
        c_out = np.concatenate([host.run([xq[i:i + 1]])[0] for i in range(len(xq))])
        ref = tflm_outputs(path, x_test)
        checks[f"{name}_c_equals_tflm"] = bool(np.array_equal(c_out, ref))
        accs[name] = float((c_out.argmax(1) == yte).mean())
        print(f"{name}: C on the host, {len(xq)} test images: accuracy {accs[name]:.4f}; identical to TFLM: "
              f"{checks[f'{name}_c_equals_tflm']}")
        if name != "int4" and not a.no_emulate:
            from tinyml.harness.firmware import emulate
            same = []
            for i in range(a.emulate_images):
                r = emulate(cdir, "mps2-an386", [xq[i:i + 1]])
                same.append(bool(np.array_equal(r["outputs"][0], c_out[i:i + 1])) and r["outputs_match_host"])
            checks[f"{name}_qemu_equals_host"] = all(same)
            print(f"{name}: QEMU mps2-an386, {len(same)} test images: identical to the host C: {all(same)} "
                  f"({r['total_instructions']:,} instructions per inference)")

    kmodel = keras_twin(model)
    kout = kmodel.predict(x_test, batch_size=1, verbose=0)
    checks["keras_twin_matches_torch"] = float(np.abs(kout - model(torch.tensor(xte)).detach().numpy()).max())
    ptq_path = tflite_ptq(kmodel, calib, out / "digits_tflite_ptq.tflite")
    tflite_ptq_acc = float((tflm_outputs(ptq_path, x_test).argmax(1) == yte).mean())
    print(f"TensorFlow's TFLiteConverter PTQ on the Keras twin, run by TFLM: accuracy {tflite_ptq_acc:.4f}")
    results = {
        "float_acc": float_acc, "int8_acc": accs["int8"], "mixed_acc": accs["mixed"], "int4_acc": accs["int4"],
        "tflite_ptq_acc": tflite_ptq_acc, "int8_weight_bytes": int8_bytes, "mixed_weight_bytes": mixed_bytes,
        "int4_weight_bytes": tinyml.quant.weight_bytes(q4), "flash_budget": budget,
        "mixed_config": res.chosen.row(), "int8_tflite": str(int8_path.resolve()),
        "mixed_tflite": str(mixed_path.resolve()), "int4_tflite": str(int4_path.resolve()),
        "tflite_ptq_tflite": str(ptq_path.resolve()), "test_data": str((out / "test_data.npz").resolve()),
        "checks": checks, "seconds": round(time.time() - t0, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k.endswith("acc") or k.endswith("bytes")}, indent=1))
    ok = all(v is True for k, v in checks.items() if k != "keras_twin_matches_torch")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
