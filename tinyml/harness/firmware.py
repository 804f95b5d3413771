"""Cross-compile a compiled model into bare-metal firmware for a board, and run it on QEMU.

The firmware (startup code, linker script, semihosting console, a test `main`) is generated from templates in
`tinyml/harness/templates/`, driven by the board's data file. The same generated model sources build for
every core (Cortex-M0+/M3 without DSP, M4/M7/M33 with it).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from ..boards import STACK_BYTES, Board, load_board
from ..carray import c_rows
from ..errors import TinymlError, ToolchainError
from ..ir import DType
from ..outdir import check_inputs, check_outdir, read_report
from ..version import __version__
from .counting import build_icount_plugin, plugin_options, profile

# -mcpu/-mfpu/-mfloat-abi per core and FPU (Debian's newlib ships multilibs for all of them)
CORE_FLAGS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mfloat-abi=soft"],
    "cortex-m3": ["-mcpu=cortex-m3", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4"],
    "cortex-m7": ["-mcpu=cortex-m7"],
    "cortex-m33": ["-mcpu=cortex-m33"],
    "cortex-m55": ["-mcpu=cortex-m55"],
}
# every layer of model.c is bracketed by a call of the board's profiling marker
PROFILE_FLAGS = ["-include", "tml_board.h", "-DTML_LAYER_BEGIN(i)=tml_layer_mark(i)",
                 "-DTML_LAYER_END(i)=tml_layer_mark(i)"]
APT_HINT = ("apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi "
            "qemu-system-arm")


@dataclass(frozen=True)
class FirmwareBuild:
    elf: Path
    text: int
    data: int
    bss: int
    board: Board

    @property
    def flash_used(self) -> int:
        return self.text + self.data

    @property
    def ram_used(self) -> int:
        return self.data + self.bss + STACK_BYTES


def cflags(board: Board, opt: str) -> list[str]:
    if board.core not in CORE_FLAGS:
        raise TinymlError(f"board {board.name}: unknown core '{board.core}' (known: {', '.join(CORE_FLAGS)})")
    fpu = [] if board.fpu == "none" else [f"-mfpu={board.fpu}", "-mfloat-abi=hard"]
    return ["-mthumb", *CORE_FLAGS[board.core], *fpu, opt, "-std=c99", "-Wall", "-Wextra", "-Werror",
            "-ffunction-sections", "-fdata-sections", "-g"]


def ldflags() -> list[str]:
    return ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", "-T", "linker.ld",
            "-lm"]


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                              lstrip_blocks=True)


def _steps(rep: dict, inputs: list[np.ndarray], steps: int) -> list[list[np.ndarray]]:
    """`inputs` as `steps` checked input lists (with steps > 1, each input has a leading axis of that length)."""
    if steps <= 1:
        return [check_inputs(rep["inputs"], inputs)]
    if any(np.shape(x)[:1] != (steps,) for x in inputs):
        raise TinymlError(f"a sequence of {steps} invokes needs every input with a leading axis of {steps}")
    return [check_inputs(rep["inputs"], [x[j] for x in inputs]) for j in range(steps)]


def generate(outdir: Path, board: Board, opt: str, inputs: list[np.ndarray] | None = None, steps: int = 1) -> Path:
    """Render the firmware project for `board` into OUTDIR/firmware/<board>/; returns that directory. With
    `steps` > 1 the firmware runs that many invokes in a row (inputs with a leading axis of that length), as a
    model with state (SVDF) needs to be checked, and prints every invoke's outputs."""
    rep = check_outdir(outdir)
    if inputs is None:  # the input zero points: a neutral input for builds without data
        inputs = [np.full(s["shape"], s.get("zero_point") or 0, DType(s["dtype"]).numpy) for s in rep["inputs"]]
        steps = 1
    seq = _steps(rep, inputs, steps)
    xs = seq[0]
    fw = outdir / "firmware" / board.name
    fw.mkdir(parents=True, exist_ok=True)
    ctx = {
        "version": __version__, "board": board, "source": rep["source"], "prefix": rep["prefix"],
        "stack": STACK_BYTES, "cflags": cflags(board, opt), "ldflags": ldflags(), "model_dir": "../..",
        "model_sources": sorted(p.name for p in outdir.glob("*.c")),
        "inputs": [{"count": x.nbytes, "rows": c_rows(np.frombuffer(b"".join(step[k].tobytes() for step in seq),
                                                                   np.uint8)),
                    "streamed": bool(spec.get("streamed"))} for k, (x, spec) in enumerate(zip(xs, rep["inputs"]))],
        "outputs": rep["outputs"], "steps": len(seq),
    }
    env = _env()
    for name in ("startup.c", "board.c", "tml_board.h", "main.c", "linker.ld", "Makefile", "CMakeLists.txt"):
        (fw / name).write_text(env.get_template(f"{name}.j2").render(**ctx))
    if board.renode_platform:  # Renode script and Robot test, for every board that has a Renode platform
        rctx = dict(ctx, elf=str((fw / "fw.elf").resolve()), timeout=300)
        (fw / f"{board.name}.resc").write_text(env.get_template("board.resc.j2").render(**rctx))
        (fw / f"{board.name}.robot").write_text(env.get_template("board.robot.j2").render(**rctx))
    return fw


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"'{name}' is not installed; on Debian: {APT_HINT}")
    return path


def build(outdir: str | Path, board_name: str | Board, opt: str = "-O2", inputs: list[np.ndarray] | None = None,
          steps: int = 1) -> FirmwareBuild:
    """Cross-compile the model in `outdir` for `board_name` (or a Board); fails clearly when it does not fit."""
    out = Path(outdir).resolve()
    board = board_name if isinstance(board_name, Board) else load_board(board_name)
    if opt not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        raise TinymlError(f"optimization level {opt} is not one of -O0 -O1 -O2 -O3 -Os")
    fw = generate(out, board, opt, inputs, steps)
    cc = _tool("arm-none-eabi-gcc")
    model_srcs = [str(p) for p in sorted(out.glob("*.c"))]
    elf = fw / "fw.elf"
    cmd = [cc, *cflags(board, opt), *PROFILE_FLAGS, "-I", str(out), "-I", str(fw), *model_srcs,
           *[str(fw / s) for s in ("startup.c", "board.c", "main.c")], *ldflags(), "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=fw)
    if r.returncode != 0:
        if "does not fit" in r.stderr or "overflowed" in r.stderr or "will not fit" in r.stderr:
            rep = read_report(out)
            hint = "" if (rep.get("board") or {}).get("name") == board.name else (
                f" It was compiled without --board {board.name}: compiled for it, the SRAM budget is the board's "
                "and the kernels keep int8 weight rows and compact code where its flash is short.")
            raise TinymlError(f"the firmware does not fit {board.name} ({board.sram.size} B SRAM, "
                              f"{board.flash.size} B flash): the model needs {rep['peak_sram_bytes']} B of SRAM "
                              f"for activations plus a {STACK_BYTES} B stack, and {rep['flash_bytes']} B of flash "
                              f"for weights.{hint} Linker said: {r.stderr.strip().splitlines()[-1]}")
        raise ToolchainError(f"arm-none-eabi-gcc failed building firmware for {board.name}:\n{r.stderr.strip()}")
    objcopy = _tool("arm-none-eabi-objcopy")
    for fmt, ext in (("binary", ".bin"), ("ihex", ".hex")):  # for STM32CubeProgrammer, J-Link, drag and drop
        r = subprocess.run([objcopy, "-O", fmt, str(elf), str(elf.with_suffix(ext))], capture_output=True, text=True)
        if r.returncode != 0:
            raise ToolchainError(f"arm-none-eabi-objcopy could not write {elf.with_suffix(ext).name}:\n{r.stderr}")
    text, data, bss = section_sizes(elf)
    return FirmwareBuild(elf, text, data, bss, board)


def section_sizes(elf: Path) -> tuple[int, int, int]:
    r = subprocess.run([_tool("arm-none-eabi-size"), "-B", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in r.stdout.splitlines()[1].split()[:3])
    return text, data, bss


@dataclass(frozen=True)
class QemuRun:
    returncode: int
    output: str
    timed_out: bool


def symbol_address(elf: Path, name: str) -> int:
    r = subprocess.run([_tool("arm-none-eabi-nm"), str(elf)], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1  # Thumb function symbols carry bit 0
    raise TinymlError(f"symbol {name} not found in {elf}")


def run_qemu(elf: Path, board: Board, timeout: float = 120.0, plugin: list[str] | None = None) -> QemuRun:
    if not board.qemu_machine:
        raise TinymlError(f"board {board.name} has no QEMU machine; use --emulator renode (if it has a Renode "
                          "platform) or another board")
    qemu = _tool("qemu-system-arm")
    cmd = [qemu, "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none", "-chardev",
           "stdio,id=sh0", "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", str(elf)]
    if plugin:
        cmd += ["-plugin", ",".join(plugin)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return QemuRun(-1, out, True)
    return QemuRun(r.returncode, r.stdout + r.stderr, False)


def parse_outputs(text: str, specs: list[dict], steps: int = 1) -> list[np.ndarray]:
    """The outputs the firmware printed; with `steps` > 1, each with a leading axis of one entry per invoke."""
    outs = []
    for k, spec in enumerate(specs):
        found = re.findall(rf"^TML_OUTPUT {k} ([0-9a-f]*)$", text, re.M)
        if len(found) != steps:
            raise TinymlError(f"the firmware printed output {k} {len(found)} times, not {steps}")
        vals = [np.frombuffer(bytes.fromhex(h), DType(spec["dtype"]).numpy).reshape(spec["shape"]) for h in found]
        outs.append(np.stack(vals) if steps > 1 else vals[0].copy())
    return outs


def emulate(outdir: str | Path, board_name: str | Board, inputs: list[np.ndarray], *, emulator: str = "qemu",
            opt: str = "-O2", timeout: float = 300.0, steps: int = 1) -> dict:
    """Build firmware with `inputs` baked in, run it on the emulator, compare with the host run. With `steps`
    > 1, a sequence of that many invokes (each input with a leading axis of that length; a model with state
    carries it along): every invoke's outputs are compared, and the instruction counts are the last invoke's.

    Returns {"outputs": [...], "outputs_match_host": bool, "outputs_match_reference": bool | None, "board",
    "emulator", "firmware": {...}} (see compare_outputs), and on QEMU the profile (tinyml.harness.counting:
    instructions, modeled cycles and milliseconds, per layer with its instruction-class mix). `board_name`: a
    board's name or file, or a Board (say, one with other wait states)."""
    out = Path(outdir).resolve()
    board = board_name if isinstance(board_name, Board) else load_board(board_name)
    if emulator == "renode":
        return _emulate_renode(out, board, inputs, opt, timeout)
    if emulator != "qemu":
        raise TinymlError(f"unknown emulator '{emulator}' (qemu or renode)")
    rep = read_report(out)
    seq = _steps(rep, inputs, steps)
    xs = [np.stack(x) for x in zip(*seq)] if steps > 1 else seq[0]
    fw = build(out, board, opt, xs, steps)
    plugin = build_icount_plugin(out / "build" / "qemu")
    events_file = fw.elf.with_name("icount.txt")
    events_file.unlink(missing_ok=True)
    run = run_qemu(fw.elf, board, timeout, [str(plugin), f"marker={symbol_address(fw.elf, 'tml_layer_mark'):#x}",
                                            f"out={events_file}", *plugin_options(board)])
    tail = "\n".join(run.output.strip().splitlines()[-15:])
    if run.timed_out:
        raise TinymlError(f"the firmware did not finish on QEMU {board.qemu_machine} within {timeout:.0f} s (hung "
                          f"or too slow). Emulator output:\n{tail}")
    if "TML_FAULT" in run.output or run.returncode != 0 or "TML_DONE" not in run.output:
        fatal = [line for line in run.output.splitlines() if "fatal" in line.lower() or "TML_FAULT" in line]
        why = ", a fault" if "TML_FAULT" in run.output else ""
        if any("Lockup" in line for line in fatal):
            why = ", the core locked up: a fault while handling a fault, e.g. a stack outside RAM"
        raise TinymlError(f"the firmware failed on QEMU {board.qemu_machine} (exit status {run.returncode}{why})."
                          f" Emulator output:\n{chr(10).join(fatal[:3] + [tail])}")
    outs = parse_outputs(run.output, rep["outputs"], steps)
    return {"board": board.name, "emulator": emulator, **compare_outputs(out, rep, seq, outs),
            **profile(events_file, rep, board, steps), "outputs": outs,
            "firmware": {"elf": os.path.relpath(fw.elf, out), "text": fw.text, "data": fw.data, "bss": fw.bss,
                         "stack": STACK_BYTES, "board_sram": board.sram.size, "board_flash": board.flash.size}}


def compare_outputs(out: Path, rep: dict, seq: list[list[np.ndarray]], outs: list[np.ndarray]) -> dict:
    """The firmware's outputs (for a sequence of several invokes, `seq`, each with a leading axis of one entry
    per invoke) against the host build of the same sources and against the NumPy reference executor of the
    source model (which shares nothing with the memory plan or the generated code): a firmware that equals a
    wrong host build is still caught. `outputs_match_reference` is None, with a note, when the source model is
    no longer where it was compiled from (or has changed since)."""
    from ..api import reference_source
    from ..compiler import load
    from ..interpreter import initial_states, run_reference
    from ..lower import lower
    from .host import HostModel

    def stacked(runs: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [np.stack([np.asarray(v).reshape(o.shape[1:] if len(seq) > 1 else o.shape) for v in vs])
                if len(seq) > 1 else np.asarray(vs[0]).reshape(o.shape) for vs, o in zip(zip(*runs), outs)]
    hm = HostModel(out)
    host = stacked([hm.run(xs) for xs in seq])
    res: dict = {"outputs_match_host": all(np.array_equal(a, b) for a, b in zip(outs, host))}
    src = reference_source(rep)
    if src is None:
        res["outputs_match_reference"] = None
        res["reference_note"] = (f"the source model '{rep.get('source_path')}' is missing or has changed since "
                                 "compilation, so the reference executor could not run")
        return res
    g = load(src)
    kernels = lower(g)
    states = initial_states(kernels)
    ref = stacked([run_reference(g, xs, kernels, states=states) for xs in seq])  # type: ignore[misc]
    res["outputs_match_reference"] = all(np.array_equal(a, b) for a, b in zip(outs, ref))
    return res


def outputs_ok(res: dict) -> bool:
    """True if the emulated outputs equal the host run and, where it could run, the reference executor."""
    return bool(res["outputs_match_host"]) and res.get("outputs_match_reference") is not False


def _emulate_renode(out: Path, board: Board, inputs: list[np.ndarray], opt: str, timeout: float) -> dict:
    """Run the generated Robot test under `renode-test`, read the outputs from its semihosting UART log."""
    if not board.renode_platform:
        raise TinymlError(f"board {board.name} has no Renode platform in its board file; use --emulator qemu")
    runner = shutil.which("renode-test")
    if shutil.which("renode") is None or runner is None:
        raise TinymlError("Renode is not installed (it is not packaged for Debian or PyPI): install it from the "
                          "Renode project's releases so that `renode` and `renode-test` are on PATH, or use "
                          "--emulator qemu. The Renode script and Robot test were generated in "
                          f"{out / 'firmware' / board.name}/ all the same when you run `tinyml build`.")
    rep = read_report(out)
    xs = check_inputs(rep["inputs"], inputs)
    fw = build(out, board.name, opt, xs)
    robot = fw.elf.with_name(f"{board.name}.robot")
    try:
        r = subprocess.run([runner, str(robot), "--results-dir", str(fw.elf.parent / "renode-results")],
                           capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise TinymlError(f"Renode did not finish {robot.name} within {timeout:.0f} s") from None
    text = r.stdout + r.stderr
    if r.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise TinymlError(f"the Renode test {robot.name} failed (exit status {r.returncode}):\n{tail}")
    outs = parse_outputs(text, rep["outputs"])
    return {"board": board.name, "emulator": "renode", "outputs": outs, **compare_outputs(out, rep, [xs], outs),
            "total_instructions": None, "layers": [{"name": la["name"], "op": la["op"], "macs": la["macs"],
                                                    "instructions": None} for la in rep["layers"]],
            "instructions_note": "instruction counts come from the QEMU run (--emulator qemu)",
            "firmware": {"elf": os.path.relpath(fw.elf, out), "text": fw.text, "data": fw.data, "bss": fw.bss,
                         "stack": STACK_BYTES, "board_sram": board.sram.size, "board_flash": board.flash.size}}
