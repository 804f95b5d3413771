"""Instructions executed inside invoke on emulated Cortex-M cores, counted exactly (QEMU plugin), against the
TFLM numbers measured on the same emulated board (../shared/FIELD-NOTES.md: TFLM 90b983c + CMSIS-NN 4ab83cc, and
TFLM's reference kernels). Instructions, not cycles. SMLAD does two int8 MACs per instruction: ~0.5
instructions/MAC is the floor.

    python benchmarks/instructions.py [--models ../shared/models] [--board mps2-an386] [-Os]
                                      [--kernels auto|dsp|portable|reference] [--signatures]

Per model: instructions, instr/MAC, the ratio to TFLM + CMSIS-NN (below 1: fewer instructions), bit-exactness
with TFLM's output in baseline.json, the firmware's .text and its code (.text minus the model's weights, the
constants prepared for the generated kernels, and the test input the firmware bakes in). --signatures also
prints, per generated kernel signature over all models, instr/MAC on the
Cortex-M4 (mps2-an386) and the Cortex-M7 (mps2-an500).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import tinyml
from tinyml.harness.firmware import emulate

# instructions inside Invoke() on QEMU mps2-an386, from ../shared/FIELD-NOTES.md
TFLM_CMSIS_NN = {"kws_ref_model.tflite": 7_698_727, "vww_96_int8.tflite": 24_104_047,
                 "pretrainedResnet_quant.tflite": 29_864_874, "person_detect.tflite": 22_930_594,
                 "ad01_int8.tflite": 583_522, "micro_speech_quantized.tflite": 1_495_596,
                 "str_ww_ref_model.tflite": 2_227_788}
TFLM_REF_PER_MAC = {"kws_ref_model.tflite": 74.8, "vww_96_int8.tflite": 73.7, "pretrainedResnet_quant.tflite": 65.9,
                    "person_detect.tflite": 73.5, "ad01_int8.tflite": 7.4, "micro_speech_quantized.tflite": 67.7,
                    "str_ww_ref_model.tflite": 71.6}


def run(models: Path, m: dict, board: str, opt: str, kernels: str) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "out"
        rep = tinyml.compile(models / m["file"], out, kernels=kernels)
        rs = np.random.RandomState(0)
        xs = [rs.randint(-128, 128, size=s["shape"]).astype(np.int8) for s in m["input"]]
        return rep, emulate(out, board, xs, opt=opt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("-Os", dest="opt", action="store_const", const="-Os", default="-O2")
    ap.add_argument("--kernels", default="auto", choices=("auto", "dsp", "portable", "reference"))
    ap.add_argument("--signatures", action="store_true", help="instr/MAC per kernel signature on M4 and M7")
    a = ap.parse_args()
    models = Path(a.models)
    base = json.loads((models / "baseline.json").read_text())["models"]
    print(f"{a.board}, {a.opt}, --kernels {a.kernels}")
    print(f"{'model':32} {'MACs':>11} {'tinyml instr':>13} {'instr/MAC':>9} {'CMSIS-NN instr':>14} {'CMSIS/MAC':>9} "
          f"{'ratio':>6} {'TFLM ref/MAC':>12} {'fw text':>9} {'code':>8} {'exact':>5}")
    ratios = []
    for m in base:
        rep, r = run(models, m, a.board, a.opt, a.kernels)
        exact = all(o.reshape(-1).tolist() == ref for o, ref in zip(r["outputs"], m["tflm_output_seed0"]))
        macs, n = m["macs"], r["total_instructions"]
        cm = TFLM_CMSIS_NN.get(m["file"])
        if cm:
            ratios.append(n / cm)
        text = r["firmware"]["text"]
        # code: .text less the model's constants and less the test input the firmware bakes in (flash data)
        baked = sum(int(np.prod(x["shape"])) * np.dtype(x["dtype"]).itemsize for x in m["input"])
        code = text - rep["flash_bytes"] - baked
        print(f"{m['file']:32} {macs:>11,} {n:>13,} {n / macs:>9.2f} {cm or 0:>14,} "
              f"{(cm or float('nan')) / macs:>9.2f} {n / cm if cm else float('nan'):>6.2f} "
              f"{TFLM_REF_PER_MAC.get(m['file'], float('nan')):>12.1f} {text:>9,} {code:>8,} "
              f"{'yes' if exact else 'NO':>5}", flush=True)
    if ratios:
        print(f"geometric mean of tinyml / TFLM + CMSIS-NN over {len(ratios)} models: "
              f"{float(np.exp(np.mean(np.log(ratios)))):.3f}")
    if a.signatures:
        signatures(models, base, a.opt, a.kernels)
    return 0


def signatures(models: Path, base: list[dict], opt: str, kernels: str) -> None:
    """instr/MAC per generated kernel signature (summed over every layer that calls it) on M4 and M7."""
    per: dict[str, dict[str, list[int]]] = {}
    for board in ("mps2-an386", "mps2-an500"):
        for m in base:
            rep, r = run(models, m, board, opt, kernels)
            for layer, prof in zip(rep["layers"], r["layers"]):
                if not layer["macs"] or not prof["instructions"]:
                    continue
                sig = " + ".join(sorted(set(layer["kernels"]))).replace(f"{rep['prefix']}_k_", "")
                acc = per.setdefault(sig, {}).setdefault(board, [0, 0])
                acc[0] += prof["instructions"]
                acc[1] += layer["macs"]
    print(f"\n{'kernel signature (all shared models)':72} {'MACs':>11} {'M4 instr/MAC':>12} {'M7 instr/MAC':>12}")
    for sig, d in sorted(per.items(), key=lambda kv: -kv[1]["mps2-an386"][1]):
        m4, m7 = d.get("mps2-an386", [0, 1]), d.get("mps2-an500", [0, 1])
        print(f"{sig[:72]:72} {m4[1]:>11,} {m4[0] / m4[1]:>12.2f} {m7[0] / m7[1]:>12.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
