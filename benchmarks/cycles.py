"""Modeled Cortex-M4 cycles inside invoke: tinyml's firmware and TFLM + CMSIS-NN's (../shared/anchors/tflm/m4, the
same seven models built with TFLM's release flags) counted by the same QEMU plugin in the same run.

    python benchmarks/cycles.py [--models ../shared/models] [--anchors ../shared/anchors/tflm]
                                [--board mps2-an386] [--wait-states 0 1 2] [--kernels auto] [--json FILE]
    python benchmarks/cycles.py --board mps3-an547 [--kernels mve|dsp]

On mps3-an547 (Cortex-M55) the anchors are ../shared/anchors/tflm/m55 (CMSIS-NN's Helium paths) and the
comparison is in instructions (the plugin models no M55 cycles); the ratio column is then instructions.

Each model is compiled for the board it runs on (`--board`), as a user compiles for theirs: its SRAM is the
budget, and the plan spends what the model does not need on speed (layer by layer before patches, each depthwise
layer in or out of place, whichever kernel is faster), its flash decides whether weights are widened.
Instructions are counted exactly; cycles are MODELED from the Cortex-M4 Technical Reference Manual's instruction
timing (runtime_c/host/tml_qemu_icount.c), not measured on silicon. Each row: tinyml's instructions and modeled
cycles, TFLM + CMSIS-NN's, their ratio, milliseconds at the board's clock, tinyml's code (firmware .text less the
model's constants and the baked-in test input), bit-exactness with TFLM's output in baseline.json, and the MLPerf
Tiny record on a Cortex-M4 where there is one (measured cycles on silicon: a target, not the same quantity).
With --wait-states, the same with that many flash wait states on every load from flash (weights, tables)
and no change to instruction fetch: what copying weights to SRAM would buy. A board whose core has no cycle model
(--board mps2-an500, the Cortex-M7) gets instructions only (the TFLM anchors are M4 builds).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import tinyml
from tinyml.boards import load_board
from tinyml.harness.counting import build_icount_plugin, cycle_events, cycle_model, plugin_options
from tinyml.harness.firmware import emulate, symbol_address
from tinyml.kernels import resolve_isa

# MLPerf Tiny closed division, Cortex-M4 (STM32L4R5 @ 120 MHz): best published, in cycles (../shared/FIELD-NOTES.md)
ST = "ST X-CUBE-AI 10.2, v1.3"
RECORDS = {"kws_ref_model": (ST, 5_210_000), "vww_96_int8": (ST, 10_700_000),
           "pretrainedResnet_quant": (ST, 19_900_000), "ad01_int8": ("Plumerai, v1.1", 486_000)}
HERE = Path(__file__).resolve().parents[2] / "shared"


def anchor_counts(elf: Path, board_name: str, plugin: Path, wait_states: int, work: Path) -> tuple[int, int]:
    """(instructions, modeled cycles) between the anchor's two bench_marker calls, less the 4 instructions of the
    markers and calls (the anchors' README)."""
    board = load_board(board_name)
    board = dataclasses.replace(board, timing=dataclasses.replace(board.timing, load_wait_states=wait_states))
    out = work / f"{elf.stem}.{wait_states}.txt"
    args = [str(plugin), f"marker={symbol_address(elf, 'bench_marker'):#x}", f"out={out}", *plugin_options(board)]
    r = subprocess.run(["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial",
                        "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf), "-plugin",
                        ",".join(args)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"{elf} failed on QEMU: {r.stdout[-500:]} {r.stderr[-500:]}")
    ev = cycle_events(out)
    d = ev[1] - ev[0]
    return d.instructions - 4, d.cycles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(HERE / "models"))
    ap.add_argument("--anchors", default=str(HERE / "anchors" / "tflm"))
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--kernels", default="auto", choices=("auto", "mve", "dsp", "portable", "reference"))
    ap.add_argument("--wait-states", type=int, nargs="*", default=[0], help="flash wait states on loads from flash")
    ap.add_argument("--json", help="write the rows to this file")
    a = ap.parse_args()
    models = Path(a.models)
    base = json.loads((models / "baseline.json").read_text())["models"]
    board = load_board(a.board)
    anchors = Path(a.anchors) / ("m55" if board.core == "cortex-m55" else "m4")
    kernels = resolve_isa(a.kernels, board) or "reference"  # auto as the board resolves it
    rows, ratios = [], {ws: [] for ws in a.wait_states}
    print(f"{a.board} ({board.core}, {board.clock_hz / 1e6:g} MHz), -O2, --kernels {kernels}; " +
          ("cycles MODELED (Cortex-M4 TRM timing), instructions exact" if cycle_model(board) else
           "instructions exact (no cycle model for this core: the ratio is of instructions)"))
    print(f"{'model':24} {'ws':>2} {'tinyml instr':>13} {'tinyml cycles':>13} {'CPI':>5} {'TFLM instr':>12} "
          f"{'TFLM cycles':>12} {'ratio':>6} {'ms':>8} {'code':>7} {'exact':>5}  record (M4, silicon)")
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        plugin = build_icount_plugin(work / "plugin")
        for m in base:
            name = Path(m["file"]).stem
            out = work / name
            rep = tinyml.compile(models / m["file"], out, board=a.board, kernels=kernels)
            rs = np.random.RandomState(0)
            xs = [rs.randint(-128, 128, size=s["shape"]).astype(np.int8) for s in m["input"]]
            baked = sum(int(np.prod(x["shape"])) * np.dtype(x["dtype"]).itemsize for x in m["input"])
            for ws in a.wait_states:
                b = dataclasses.replace(board, timing=dataclasses.replace(board.timing, load_wait_states=ws))
                r = emulate(out, b, xs)
                exact = all(o.reshape(-1).tolist() == ref for o, ref in zip(r["outputs"], m["tflm_output_seed0"]))
                elf = anchors / f"{name}.elf"
                modeled = r["total_cycles"] is not None
                ti, tc = anchor_counts(elf, a.board, plugin, ws, work) if elf.is_file() else (None, None)
                tc = tc if modeled else None
                n, c = r["total_instructions"], r["total_cycles"]
                code = r["firmware"]["text"] - rep["flash_bytes"] - baked
                rec = RECORDS.get(name) if board.core == "cortex-m4" else None
                if tc and c:
                    ratios[ws].append(c / tc)
                elif ti and not modeled:
                    ratios[ws].append(n / ti)
                rows.append({"model": name, "core": board.core, "wait_states": ws, "tinyml_instructions": n,
                             "tinyml_cycles": c, "tflm_instructions": ti, "tflm_cycles": tc, "bit_exact": exact,
                             "tinyml_code_bytes": code, "milliseconds": r.get("milliseconds")})
                if c is None:  # a core without a cycle model: instructions only (ratio: of instructions)
                    anchor = f"{ti:>12,} {'':>12} {n / ti:>6.3f}" if ti else f"{'':>12} {'':>12} {'':>6}"
                    print(f"{name:24} {ws:>2} {n:>13,} {'':>13} {'':>5} {anchor} {'':>8} {code:>7,} "
                          f"{'yes' if exact else 'NO':>5}", flush=True)
                    continue
                anchor = f"{ti:>12,} {tc:>12,} {c / tc:>6.3f}" if tc else f"{'':>12} {'':>12} {'':>6}"
                print(f"{name:24} {ws:>2} {n:>13,} {c:>13,} {c / n:>5.2f} {anchor} {r['milliseconds']:>8.2f} "
                      f"{code:>7,} "
                      f"{'yes' if exact else 'NO':>5}  {f'{rec[1] / 1e6:.2f} M ({rec[0]})' if rec else ''}",
                      flush=True)
    for ws, rs_ in ratios.items():
        if rs_:
            what = "modeled cycles" if cycle_model(board) else "instructions"
            print(f"geometric mean of tinyml / TFLM + CMSIS-NN {what}, {ws} wait states, over {len(rs_)} "
                  f"models: {float(np.exp(np.mean(np.log(rs_)))):.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
