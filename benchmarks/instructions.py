"""Instructions executed inside invoke on QEMU mps2-an386 (Cortex-M4F), counted exactly, against the TFLM
numbers measured on the same emulated board (FIELD-NOTES.md: TFLM 90b983c + CMSIS-NN 4ab83cc, and TFLM's
reference kernels). Instructions, not cycles. The floor for int8 MACs with SMLAD is ~0.5 instructions/MAC.

    python benchmarks/instructions.py [--models ../shared/models] [--board mps2-an386] [-Os]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import tinyml
from tinyml.harness.firmware import emulate

# instructions per MAC inside Invoke() on QEMU mps2-an386, from ../shared/FIELD-NOTES.md
TFLM_CMSIS_NN = {"kws_ref_model.tflite": 7_698_727, "vww_96_int8.tflite": 24_104_047,
                 "pretrainedResnet_quant.tflite": 29_864_874, "person_detect.tflite": 22_930_594,
                 "ad01_int8.tflite": 583_522, "micro_speech_quantized.tflite": 1_495_596,
                 "str_ww_ref_model.tflite": 2_227_788}
TFLM_REF_PER_MAC = {"kws_ref_model.tflite": 74.8, "vww_96_int8.tflite": 73.7, "pretrainedResnet_quant.tflite": 65.9,
                    "person_detect.tflite": 73.5, "ad01_int8.tflite": 7.4, "micro_speech_quantized.tflite": 67.7,
                    "str_ww_ref_model.tflite": 71.6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("-Os", dest="opt", action="store_const", const="-Os", default="-O2")
    a = ap.parse_args()
    base = json.loads((Path(a.models) / "baseline.json").read_text())["models"]
    print(f"{'model':32} {'MACs':>11} {'tinyml instr':>13} {'instr/MAC':>9} {'TFLM ref/MAC':>12} "
          f"{'CMSIS-NN instr':>14} {'CMSIS/MAC':>9} {'fw text':>9} {'exact':>5}")
    for m in base:
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "out"
            tinyml.compile(Path(a.models) / m["file"], out)
            rs = np.random.RandomState(0)
            xs = [rs.randint(-128, 128, size=s["shape"]).astype(np.int8) for s in m["input"]]
            r = emulate(out, a.board, xs, opt=a.opt)
        exact = all(o.reshape(-1).tolist() == ref for o, ref in zip(r["outputs"], m["tflm_output_seed0"]))
        macs = m["macs"]
        cm = TFLM_CMSIS_NN.get(m["file"])
        print(f"{m['file']:32} {macs:>11,} {r['total_instructions']:>13,} {r['total_instructions'] / macs:>9.2f} "
              f"{TFLM_REF_PER_MAC.get(m['file'], float('nan')):>12.1f} {cm or 0:>14,} "
              f"{(cm or float('nan')) / macs:>9.2f} {r['firmware']['text']:>9,} {'yes' if exact else 'NO':>5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
