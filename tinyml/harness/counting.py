"""Counting what a firmware executes on QEMU: instructions exactly, and cycles modeled for the Cortex-M4.

The QEMU TCG plugin `runtime_c/host/tml_qemu_icount.c` (compiled here with the host C compiler) counts every
executed guest instruction and, by its one table of instruction classes, the cycles a Cortex-M4 would take for
them (its Technical Reference Manual's instruction timing; the plugin's header comment lists what the model
leaves out). Each time the profiling marker runs it records both, and each class's instructions and cycles. The
cycles are a model, always called "modeled": nothing here measures silicon.

Board files may state the timing of their memory (`[timing]`: `branch_penalty`, 1-3 cycles of pipeline refill
after a taken branch, 2 by default; `fetch_wait_states` and `load_wait_states`, flash wait states per instruction
fetched from and per load from the board's flash range, 0 by default: the core running from zero-wait-state
memory).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..boards import Board
from ..errors import TinymlError, ToolchainError
from ..resources import runtime_dir

# the plugin's instruction classes, in its order (its CYCLE MODEL table says what each costs)
CYCLE_CLASSES = ("alu", "mul", "mla", "dsp", "div", "load", "store", "ldst_multiple", "branch", "fpu", "other")
CYCLE_MODEL = "cortex-m4"  # the cores whose timing the plugin models
NOTE = ("instructions: executed instructions counted exactly by a QEMU TCG plugin; cycles: MODELED from the "
        "Cortex-M4 Technical Reference Manual's instruction timing per instruction class (taken branches, load "
        "pipelining, optional flash wait states), not measured; each layer includes the 3-4 instructions of its "
        "profiling marker calls")


def build_icount_plugin(cache: Path) -> Path:
    """Compile the instruction-counting QEMU plugin with the host C compiler (once per source version)."""
    from .host import find_cc
    src = runtime_dir() / "host" / "tml_qemu_icount.c"
    lib = cache / f"libtml_icount-{hashlib.sha256(src.read_bytes()).hexdigest()[:12]}.so"
    if not lib.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_suffix(".tmp")
        r = subprocess.run([find_cc(), "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-o", str(tmp), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ToolchainError(f"could not build the QEMU instruction-counting plugin:\n{r.stderr.strip()}")
        os.replace(tmp, lib)
    return lib


def plugin_options(board: Board) -> list[str]:
    """The plugin's timing arguments for `board`: its branch penalty and flash wait states."""
    t = board.timing
    return [f"branch_penalty={t.branch_penalty}", f"fetch_ws={t.fetch_wait_states}",
            f"load_ws={t.load_wait_states}", f"flash_lo={board.flash.base:#x}",
            f"flash_hi={board.flash.base + board.flash.size:#x}"]


def cycle_model(board: Board) -> dict | None:
    """The cycle model's name and parameters for `board` (emulation.json `cycle_model`), or None where the
    board's core is not one the plugin models (its cycles are then not reported)."""
    if board.core != CYCLE_MODEL:
        return None
    t = board.timing
    return {"name": f"{CYCLE_MODEL} (Technical Reference Manual instruction timing, modeled)",
            "branch_penalty": t.branch_penalty, "fetch_wait_states": t.fetch_wait_states,
            "load_wait_states": t.load_wait_states, "clock_hz": board.clock_hz}


@dataclass(frozen=True)
class Counts:
    """The plugin's running counts at one marker hit: instructions, modeled cycles, and both per class."""
    instructions: int
    cycles: int
    class_instructions: tuple[int, ...]
    class_cycles: tuple[int, ...]

    def counts(self) -> tuple[int, ...]:
        return (self.instructions, self.cycles, *self.class_instructions, *self.class_cycles)

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.instructions - other.instructions, self.cycles - other.cycles,
                      tuple(a - b for a, b in zip(self.class_instructions, other.class_instructions)),
                      tuple(a - b for a, b in zip(self.class_cycles, other.class_cycles)))

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.instructions + other.instructions, self.cycles + other.cycles,
                      tuple(a + b for a, b in zip(self.class_instructions, other.class_instructions)),
                      tuple(a + b for a, b in zip(self.class_cycles, other.class_cycles)))

    def mix(self) -> dict[str, dict[str, int]]:
        """Where the instructions and cycles go: per class with any."""
        return {c: {"instructions": n, "cycles": k}
                for c, n, k in zip(CYCLE_CLASSES, self.class_instructions, self.class_cycles) if n or k}


ZERO = Counts(0, 0, (0,) * len(CYCLE_CLASSES), (0,) * len(CYCLE_CLASSES))


def cycle_events(path: Path) -> list[Counts]:
    """The plugin's marker events, in order."""
    if not path.is_file():
        raise TinymlError("the QEMU instruction-counting plugin wrote no results")
    lines = path.read_text().splitlines()
    names = next((line.split()[1:] for line in lines if line.startswith("names ")), None)
    if names != list(CYCLE_CLASSES):
        raise TinymlError(f"the QEMU counting plugin's classes {names} are not {list(CYCLE_CLASSES)}")
    out = []
    for k, line in enumerate(lines):
        if line.startswith("event "):
            _, insns, cycles = line.split()
            ins, cyc = lines[k + 1].split(maxsplit=1)[1].split(" / ")
            out.append(Counts(int(insns), int(cycles), tuple(map(int, ins.split())), tuple(map(int, cyc.split()))))
    return out


def layer_counts(events_file: Path, report: dict, steps: int = 1) -> tuple[Counts, list[tuple[dict, Counts]]]:
    """Map the plugin's marker events [invoke begin, (block begin, block end)..., invoke end] onto the layers:
    report["schedule"] lists the layer of every marked block in execution order (a patch stage runs its layers
    once per patch; their blocks add up). Of `steps` invokes in a row, the last one's: (the invoke's counts,
    [(layer of report.json, its counts)])."""
    ev = cycle_events(events_file)
    layers = report["layers"]
    blocks = report.get("schedule") or [layer["index"] for layer in layers if layer["kernels"]]
    if len(ev) != steps * (2 + 2 * len(blocks)):
        raise TinymlError(f"expected {steps * (2 + 2 * len(blocks))} profiling events from the firmware, got "
                          f"{len(ev)}")
    ev = ev[(steps - 1) * (2 + 2 * len(blocks)):]
    per: dict[int, Counts] = {}
    for k, index in enumerate(blocks):
        per[index] = per.get(index, ZERO) + (ev[2 + 2 * k] - ev[1 + 2 * k])
    return ev[-1] - ev[0], [(layer, per.get(layer["index"], ZERO)) for layer in layers]


def profile(events_file: Path, report: dict, board: Board, steps: int = 1) -> dict:
    """emulation.json's profile: total instructions and, where the board's core is modeled, total cycles and
    milliseconds at its clock; per layer the same and the instruction-class mix."""
    total, per = layer_counts(events_file, report, steps)
    model = cycle_model(board)

    def ms(cycles: int) -> float | None:
        return round(1000 * cycles / board.clock_hz, 6) if model and board.clock_hz else None
    layers = []
    for layer, c in per:
        row = {"name": layer["name"], "op": layer["op"], "macs": layer["macs"],
               "executed_macs": layer.get("executed_macs", layer["macs"]), "instructions": c.instructions}
        if model:
            row.update(cycles=c.cycles, milliseconds=ms(c.cycles), mix=c.mix())
        layers.append(row)
    out: dict = {"total_instructions": total.instructions, "layers": layers, "instructions_note": NOTE}
    if model:
        out.update(total_cycles=total.cycles, milliseconds=ms(total.cycles), cycle_model=model, mix=total.mix())
    else:
        out.update(total_cycles=None, cycle_model=None,
                   cycles_note=f"no cycle model for {board.core}: the plugin models the Cortex-M4's timing")
    return out
