"""MNIST-1D end to end: a 1-D CNN trained in PyTorch, then float, int8, int4, mixed int4/int8 under a flash budget,
int4 with quantization-aware training and the compression search under SRAM and flash budgets, each exported,
compiled to C and checked byte for byte against the tflite-micro interpreter on the whole test set.

MNIST-1D (Greydanus, 2020) is generated procedurally by the `mnist1d` package from its ten templates with a fixed
seed (`make_dataset(get_dataset_args())`: 4,000 training and 1,000 test signals of 40 samples; nothing is
downloaded). It separates compression methods where scikit-learn's digits cannot: int4 without training loses
points here. 600 training signals are held out as validation data for the searches.

    python examples/mnist1d/run.py --out DIR [--seeds 0 1 2] [--epochs 60] [--qat-epochs 16] [--no-emulate]

DIR/results.json: {"variants": [{variant, accuracy, accuracy_std, accuracies (one per seed), weight_bytes,
peak_sram_bytes, bit_exact, m4_instructions, m4_cycles}], ...} for the variants float, int8, int4, mixed,
int4_qat and search (the last seed's model sizes; accuracy over the seeds); DIR/mnist1d.png plots accuracy
against weight bytes; DIR/<variant>_s<seed>.tflite are the exported models.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
VARIANTS = ("float", "int8", "int4", "mixed", "int4_qat", "search")
MIXED_BUDGET = 0.55   # mixed: flash for weights, a fraction of the int8 model's
SEARCH_FLASH = 0.45   # search: flash for weights, a fraction of the int8 model's; SRAM: the int8 model's peak
SEARCH_FINETUNE = 8   # search: epochs of float fine-tuning of each pruned network
QAT_LR = 3e-4         # int4_qat: the weights' learning rate, cosine-decayed over --qat-epochs


def load_data() -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test), x as NCHW [n, 1, 1, 40] float32: the package's own generator."""
    from mnist1d.data import get_dataset_args, make_dataset
    d = make_dataset(get_dataset_args())
    x = lambda v: np.asarray(v, np.float32)[:, None, None, :]  # noqa: E731
    return x(d["x"]), np.asarray(d["y"]), x(d["x_test"]), np.asarray(d["y_test"])


def build_torch(seed: int):  # noqa: ANN201
    """A small 1-D CNN (as 1 x k 2-D convolutions, which every importer and TFLM take): ~26 K weights."""
    import torch
    from torch import nn
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, (1, 5), padding=(0, 2)), nn.ReLU(),                       # 40
        nn.Conv2d(16, 32, (1, 3), stride=(1, 2), padding=(0, 1)), nn.ReLU(),       # 20
        nn.Conv2d(32, 32, (1, 3), stride=(1, 2), padding=(0, 1)), nn.ReLU(),       # 10
        nn.Flatten(), nn.Linear(32 * 10, 64), nn.ReLU(), nn.Linear(64, 10))


def train(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:  # noqa: ANN001
    import torch
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), 3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for s in range(0, len(xt), 64):
            idx = perm[s:s + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    model.eval()


def tflm_outputs(path: Path, xq: np.ndarray) -> np.ndarray:
    """Outputs of the tflite-micro interpreter for already quantized inputs `xq` (one per row)."""
    from tflite_micro import runtime
    ip = runtime.Interpreter.from_file(str(path), arena_size=200_000)
    outs = []
    for xi in xq:
        ip.set_input(xi[None], 0)
        ip.invoke()
        outs.append(ip.get_output(0).copy())
    return np.concatenate(outs)


def check(name: str, q, path: Path, out: Path, x_test: np.ndarray, y_test: np.ndarray,  # noqa: ANN001
          emulate_: bool) -> dict:
    """Compile `path`, run the C on the host over the whole test set, compare every output with TFLM; with
    `emulate_`, one input on QEMU mps2-an386 for the M4's instructions and modeled cycles."""
    import tinyml
    from tinyml.harness.host import HostModel
    from tinyml.quant import quantize_input
    cdir = out / f"c_{name}"
    if cdir.exists():
        shutil.rmtree(cdir)
    rep = tinyml.compile(path, cdir)
    xq = quantize_input(q, x_test)
    host = HostModel(cdir)
    c_out = np.concatenate([host.run([xq[i:i + 1]])[0] for i in range(len(xq))])
    res = {"accuracy": float((c_out.reshape(len(xq), -1).argmax(1) == y_test).mean()),
           "weight_bytes": tinyml.quant.weight_bytes(q), "peak_sram_bytes": rep["peak_sram_bytes"],
           "bit_exact": bool(np.array_equal(c_out, tflm_outputs(path, xq))),
           "m4_instructions": None, "m4_cycles": None}
    if emulate_:
        from tinyml.harness.firmware import emulate
        r = emulate(cdir, "mps2-an386", [xq[:1]])
        res["bit_exact"] = res["bit_exact"] and bool(r["outputs_match_host"])
        res["m4_instructions"], res["m4_cycles"] = r["total_instructions"], r["total_cycles"]
    return res


def run_seed(seed: int, data: tuple, a: argparse.Namespace, out: Path) -> dict[str, dict]:
    """Every variant for one training seed."""
    import torch

    import tinyml
    from tinyml.quant import qat
    from tinyml.quant.compress import compress
    xtr, ytr, xte, yte = data
    xfit, yfit, xval, yval = xtr[600:], ytr[600:], xtr[:600], ytr[:600]
    model = build_torch(seed)
    t0 = time.time()
    train(model, xfit, yfit, a.epochs, seed)
    with torch.no_grad():
        float_acc = float((model(torch.tensor(xte)).argmax(1).numpy() == yte).mean())
    print(f"seed {seed}: trained in {time.time() - t0:.1f} s, float test accuracy {float_acc:.4f}", flush=True)
    nhwc = lambda v: np.ascontiguousarray(v.transpose(0, 2, 3, 1))  # noqa: E731
    calib, x_test = nhwc(xfit[:512]), nhwc(xte)
    g = tinyml.from_torch(model, torch.tensor(xte[:1]), name="mnist1d_cnn")
    graphs = {"int8": tinyml.quantize(g, calib), "int4": tinyml.quantize(g, calib, weights="int4")}
    int8_bytes = tinyml.quant.weight_bytes(graphs["int8"])
    graphs["mixed"] = compress(g, calib, nhwc(xval), yval, flash_budget=int(MIXED_BUDGET * int8_bytes),
                               bits="mixed").graph
    module = qat.prepare(g, calib, weights="int4")
    qat.finetune(module, nhwc(xfit), yfit, epochs=a.qat_epochs, lr=QAT_LR, schedule="cosine", seed=seed)
    graphs["int4_qat"] = qat.export(module)
    res: dict[str, dict] = {"float": {"accuracy": float_acc, "weight_bytes": 4 * sum(
        p.numel() for p in model.parameters()), "peak_sram_bytes": None, "bit_exact": None,
        "m4_instructions": None, "m4_cycles": None}}
    for name in ("int8", "int4", "mixed", "int4_qat"):
        path = tinyml.export_tflite(graphs[name], out / f"{name}_s{seed}.tflite")
        res[name] = check(name, graphs[name], path, out, x_test, yte, not a.no_emulate)
    search = compress(g, calib, nhwc(xval), yval, flash_budget=int(SEARCH_FLASH * int8_bytes),
                      sram_budget=res["int8"]["peak_sram_bytes"], calib_y=yfit[:512],
                      finetune_epochs=min(a.qat_epochs, SEARCH_FINETUNE))
    path = tinyml.export_tflite(search.graph, out / f"search_s{seed}.tflite")
    res["search"] = {**check("search", search.graph, path, out, x_test, yte, not a.no_emulate),
                     "config": search.chosen.row()}
    for name in VARIANTS:
        r = res[name]
        print(f"  {name:<9} accuracy {r['accuracy']:.4f}  weights {r['weight_bytes']:>7,} B  peak SRAM "
              f"{r['peak_sram_bytes'] or 0:>6,} B  bit-exact {r['bit_exact']}", flush=True)
    return res


def plot(records: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in records:
        ax.errorbar(r["weight_bytes"], 100 * r["accuracy"], yerr=100 * r["accuracy_std"], fmt="o", capsize=3)
        ax.annotate(r["variant"], (r["weight_bytes"], 100 * r["accuracy"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("weight bytes")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MNIST-1D: compression variants (C on the host, bit-exact with TFLM)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--qat-epochs", type=int, default=16)
    ap.add_argument("--no-emulate", action="store_true", help="skip the QEMU runs (no arm-none-eabi toolchain)")
    a = ap.parse_args()
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = load_data()
    per_seed = [run_seed(seed, data, a, out) for seed in a.seeds]
    records = []
    for name in VARIANTS:
        accs = [r[name]["accuracy"] for r in per_seed]
        last = per_seed[-1][name]
        records.append({"variant": name, "accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
                        "accuracies": accs, **{k: v for k, v in last.items() if k != "accuracy"},
                        "bit_exact": None if name == "float" else all(r[name]["bit_exact"] for r in per_seed)})
    print(f"\n{'variant':<9} {'accuracy':>14} {'weights':>9} {'peak SRAM':>9} {'M4 instr':>10} {'M4 cycles':>10}"
          " bit-exact")
    for r in records:
        print(f"{r['variant']:<9} {100 * r['accuracy']:>7.2f} +-{100 * r['accuracy_std']:.2f} "
              f"{r['weight_bytes']:>9,} {r['peak_sram_bytes'] or 0:>9,} {r['m4_instructions'] or 0:>10,} "
              f"{r['m4_cycles'] or 0:>10,} {r['bit_exact']}")
    plot(records, out / "mnist1d.png")
    (out / "results.json").write_text(json.dumps({"variants": records, "seeds": a.seeds, "epochs": a.epochs,
                                                  "qat_epochs": a.qat_epochs,
                                                  "seconds": round(time.time() - t0, 1)}, indent=1))
    return 0 if all(r["bit_exact"] in (True, None) for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
