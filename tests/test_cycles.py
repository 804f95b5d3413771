"""The Cortex-M4 cycle model of the QEMU plugin (runtime_c/host/tml_qemu_icount.c): every instruction class on
hand-written instruction sequences whose cycles the Technical Reference Manual states, taken and not-taken
branches, load pipelining, wait states; and a whole firmware counted twice gives the same counts."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SHARED_MODELS, needs_shared

from tinyml.harness.counting import CYCLE_CLASSES, build_icount_plugin, cycle_events
from tinyml.harness.firmware import symbol_address

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs gcc-arm-none-eabi and qemu-system-arm (apt-get install "
                                       "gcc-arm-none-eabi qemu-system-arm)")

# a bare-metal Cortex-M4F program: FPU on, r5 -> SRAM, r6 -> flash, the sequence between two marker calls, exit
PROGRAM = """
    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb
    .text
    .word 0x20010000
    .word reset
    .thumb_func
reset:
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    ldr r5, =0x20000100
    ldr r6, =table
    movs r0, #1
    movs r1, #2
    movs r2, #3
    movs r3, #4
    bl marker
{body}
    bl marker
    movs r0, #0x18
    ldr r1, =0x20026
    bkpt 0xab
    .thumb_func
marker:
    nop
    bx lr
    .align 4
table:
    .word 1, 2, 3, 4, 5, 6, 7, 8
"""


@pytest.fixture(scope="module")
def measure(tmp_path_factory):
    """cycles(body, **plugin options) -> (instructions, modeled cycles, per class instructions, per class cycles)
    between the markers, less those of an empty body."""
    d = tmp_path_factory.mktemp("cycles")
    plugin = build_icount_plugin(d / "plugin")
    runs = {}

    def run(body: str, **opts: int) -> tuple:
        key = (body, tuple(sorted(opts.items())))
        if key not in runs:
            k = len(runs)
            src, elf, out = d / f"p{k}.S", d / f"p{k}.elf", d / f"p{k}.txt"
            src.write_text(PROGRAM.format(body=body))
            subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                            "-mfpu=fpv4-sp-d16", "-nostdlib", "-Wl,-Ttext=0x0", "-Wl,-e,reset", "-o", str(elf),
                            str(src)], check=True, capture_output=True)
            args = [str(plugin), f"marker={symbol_address(elf, 'marker'):#x}", f"out={out}",
                    *(f"{k}={v}" for k, v in opts.items())]
            r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial",
                                "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
                                "-plugin", ",".join(args)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            ev = cycle_events(out)
            assert len(ev) == 2
            runs[key] = tuple(b - a for a, b in zip(ev[0].counts(), ev[1].counts()))
        return runs[key]

    def measured(body: str, **opts: int) -> dict:
        full, empty = run(body, **opts), run("", **opts)
        diff = [a - b for a, b in zip(full, empty)]
        return {"instructions": diff[0], "cycles": diff[1], "classes": dict(zip(ev_names(), diff[2:]))}
    return measured


def ev_names() -> list[str]:
    return [f"{c}_instructions" for c in CYCLE_CLASSES] + [f"{c}_cycles" for c in CYCLE_CLASSES]


def times(n: int, insn: str) -> str:
    return "\n".join(f"    {insn}" for _ in range(n))


# (body, instructions, cycles, the class its cycles go to): Cortex-M4 TRM table 3-1 and the FPU table, P = 2
CASES = [
    (times(10, "adds r0, r0, r1"), 10, 10, "alu"),
    (times(10, "add.w r0, r0, r1, lsl #2"), 10, 10, "alu"),
    (times(10, "ssat r0, #8, r1"), 10, 10, "alu"),
    (times(10, "muls r0, r1, r0"), 10, 10, "mul"),
    (times(10, "mul r0, r1, r2"), 10, 10, "mul"),
    (times(10, "smull r0, r4, r1, r2"), 10, 10, "mul"),
    (times(10, "smlal r0, r4, r1, r2"), 10, 10, "mul"),
    (times(10, "mla r0, r1, r2, r3"), 10, 20, "mla"),
    (times(10, "mls r0, r1, r2, r3"), 10, 20, "mla"),
    (times(10, "smlad r0, r1, r2, r0"), 10, 10, "dsp"),
    (times(10, "smlabb r0, r1, r2, r0"), 10, 10, "dsp"),
    (times(10, "sxtb16 r0, r1"), 10, 10, "dsp"),
    (times(10, "sxtab16 r0, r0, r1"), 10, 10, "dsp"),
    (times(10, "qadd8 r0, r1, r2"), 10, 10, "dsp"),
    (times(10, "qadd r0, r1, r2"), 10, 10, "dsp"),
    ("    sdiv r0, r1, r2", 1, 12, "div"),
    ("    udiv r0, r1, r2", 1, 12, "div"),
    ("    ldr r0, [r5]", 1, 2, "load"),
    (times(4, "ldr r0, [r5]"), 4, 5, "load"),                       # N loads in a row: N + 1
    ("    ldr r0, [r5]\n    adds r1, r1, r2\n    ldr r0, [r5]", 3, 5, "load"),
    ("    ldrb.w r0, [r5, #3]\n    ldrsh r0, [r5, r1]", 2, 3, "load"),
    ("    str r0, [r5]", 1, 2, "store"),
    ("    ldr r0, [r5]\n    str r0, [r5, #4]", 2, 3, "store"),         # a store pipelines after a load
    ("    str r0, [r5, r1]\n    ldr r2, [r5]", 2, 4, "load"),           # nothing pipelines after STR (register)
    ("    ldrd r0, r4, [r5]", 1, 3, "ldst_multiple"),
    ("    strd r0, r4, [r5]", 1, 3, "ldst_multiple"),
    ("    ldm r5, {r0, r1, r2, r4}", 1, 5, "ldst_multiple"),
    ("    push {r0-r3}\n    pop {r0-r3}", 2, 10, "ldst_multiple"),
    ("    b.n 1f\n1:", 1, 3, "branch"),                                  # taken: 1 + P
    ("    b.w 1f\n1:", 1, 3, "branch"),
    ("    cmp r0, r0\n    bne 1f\n    nop\n1:", 3, 3, "branch"),         # not taken: 1 (cmp 1, nop 1)
    ("    cmp r0, r0\n    beq 1f\n    nop\n1:", 2, 4, "branch"),         # taken
    ("    cmp r0, r0\n    beq.w 1f\n    nop\n1:", 2, 4, "branch"),
    ("    movs r4, #0\n    cbz r4, 1f\n    nop\n1:", 2, 4, "branch"),
    ("    movs r4, #1\n    cbz r4, 1f\n    nop\n1:", 3, 3, "branch"),
    ("    adr r4, 1f + 1\n    bx r4\n    nop\n    .align 2\n1:", 2, 4, "branch"),
    ("    cmp r0, r0\n    it eq\n    moveq r4, r1", 3, 3, "other"),
    (times(10, "vadd.f32 s0, s1, s2"), 10, 10, "fpu"),
    (times(10, "vmul.f32 s0, s1, s2"), 10, 10, "fpu"),
    ("    vmla.f32 s0, s1, s2", 1, 3, "fpu"),
    ("    vfma.f32 s0, s1, s2", 1, 3, "fpu"),
    ("    vdiv.f32 s0, s1, s2", 1, 14, "fpu"),
    ("    vsqrt.f32 s0, s1", 1, 14, "fpu"),
    ("    vldr s0, [r5]", 1, 2, "fpu"),
    ("    vpush {s0-s3}\n    vpop {s0-s3}", 2, 10, "fpu"),
    ("    vmov r0, s0", 1, 1, "fpu"),
]


@pytest.mark.parametrize("body,insns,cycles,cls", CASES, ids=[c[0].strip().split("\n")[0].strip() for c in CASES])
def test_instruction_classes(measure, body, insns, cycles, cls):
    m = measure(body)
    assert m["instructions"] == insns
    assert m["cycles"] == cycles, m
    assert m["classes"][f"{cls}_cycles"] > 0


def test_instruction_before_a_page_boundary(measure):
    """QEMU 7.2 hands the plugin a 16-bit instruction that ends 4 bytes before a 1 KB page boundary, a 16-bit one
    following, as 4 bytes (the next halfword appended): the model takes the size from the first halfword, so such
    an instruction costs what it costs anywhere else (an LDR there decoded as a 32-bit LDM cost 7 cycles: code
    layout moved the modeled cycles)."""
    body = "    adds r1, r1, r2\n    ldr r0, [r5]\n    ldr r0, [r5]\n    adds r1, r1, r2"
    here = measure("    b.w 2f\n2:\n" + body)
    edge = measure("    b.w 2f\n    .balign 1024\n    .skip 1018\n2:\n" + body)  # the LDRs end the page
    assert here["instructions"] == edge["instructions"] == 5
    assert here["cycles"] == edge["cycles"] == 3 + 1 + 2 + 1 + 1, (here, edge)


def test_branch_penalty_and_wait_states(measure):
    """P comes from the board (1-3); a load from the flash range waits its wait states, one from SRAM does not;
    each instruction fetched from the flash range waits the fetch wait states."""
    assert measure("    b.n 1f\n1:", branch_penalty=3)["cycles"] == 4
    assert measure("    b.n 1f\n1:", branch_penalty=1)["cycles"] == 2
    flash = {"flash_lo": 0, "flash_hi": 0x400000}
    assert measure("    ldr r0, [r6]", load_ws=2, **flash)["cycles"] == 4
    assert measure("    ldr r0, [r5]", load_ws=2, **flash)["cycles"] == 2
    assert measure("    ldrd r0, r4, [r6]", load_ws=1, **flash)["cycles"] == 5
    assert measure(times(3, "adds r0, r0, r1"), fetch_ws=1, **flash)["cycles"] == 6


@needs_shared()
def test_whole_firmware_twice_gives_the_same_counts(tmp_path):
    """tinyml emulate on a shared model, twice: the same instructions and modeled cycles, in total and per layer;
    the layers' cycles and their class mixes add up, and milliseconds follow the board's clock."""
    import numpy as np

    import tinyml
    from tinyml.harness.firmware import emulate
    rep = tinyml.compile(SHARED_MODELS / "ad01_int8.tflite", tmp_path / "out")
    x = np.random.RandomState(0).randint(-128, 128, rep["inputs"][0]["shape"]).astype(np.int8)
    a, b = (emulate(tmp_path / "out", "mps2-an386", [x]) for _ in range(2))
    assert a["outputs_match_host"] and a["outputs_match_reference"]
    assert (a["total_instructions"], a["total_cycles"]) == (b["total_instructions"], b["total_cycles"])
    assert [la["cycles"] for la in a["layers"]] == [la["cycles"] for la in b["layers"]]
    assert a["total_instructions"] < a["total_cycles"] < 3 * a["total_instructions"]
    assert sum(la["cycles"] for la in a["layers"]) <= a["total_cycles"]
    for la in a["layers"]:
        assert sum(m["cycles"] for m in la["mix"].values()) == la["cycles"]
        assert sum(m["instructions"] for m in la["mix"].values()) == la["instructions"]
    assert a["milliseconds"] == pytest.approx(1000 * a["total_cycles"] / 25e6)
    assert a["cycle_model"]["branch_penalty"] == 2 and a["cycle_model"]["load_wait_states"] == 0


@needs_shared()
def test_cores_without_a_model_get_instructions_only(tmp_path):
    """The Cortex-M7 has another pipeline: its emulation reports instructions, no cycles, and says why."""
    import numpy as np

    import tinyml
    from tinyml.harness.firmware import emulate
    rep = tinyml.compile(SHARED_MODELS / "hello_world_int8.tflite", tmp_path / "out")
    x = np.zeros(rep["inputs"][0]["shape"], np.int8)
    res = emulate(tmp_path / "out", "mps2-an500", [x])
    assert res["total_instructions"] > 0 and res["total_cycles"] is None and res["cycle_model"] is None
    assert "cortex-m7" in res["cycles_note"] and "cycles" not in res["layers"][0]


def test_board_timing_is_checked(tmp_path):
    """A board file's [timing] is read and checked: a branch penalty outside 1-3 or an unknown key is refused."""
    from tinyml.boards import load_board
    from tinyml.errors import TinymlError
    text = (Path(__file__).resolve().parents[1] / "boards" / "mps2-an386.toml").read_text()
    ok = tmp_path / "ok.toml"
    ok.write_text(text + "\n[timing]\nbranch_penalty = 3\nload_wait_states = 1\n")
    t = load_board(str(ok)).timing
    assert (t.branch_penalty, t.fetch_wait_states, t.load_wait_states) == (3, 0, 1)
    for bad in ("branch_penalty = 4", "fetch_wait_states = -1", "wait = 1"):
        p = tmp_path / "bad.toml"
        p.write_text(text + f"\n[timing]\n{bad}\n")
        with pytest.raises(TinymlError, match="timing"):
            load_board(str(p))


@needs_shared()
def test_compact_kernels_trade_cycles_for_code(tmp_path):
    """On QEMU, ad01 with the compact kernels (--code compact) and the fast ones: both bit-exact with the host and
    the reference, the compact firmware's code smaller, the fast one's modeled cycles fewer."""
    import numpy as np

    import tinyml
    from tinyml.harness.firmware import emulate
    res = {}
    for code in ("fast", "compact"):
        rep = tinyml.compile(SHARED_MODELS / "ad01_int8.tflite", tmp_path / code, code=code)
        x = np.random.RandomState(0).randint(-128, 128, rep["inputs"][0]["shape"]).astype(np.int8)
        res[code] = emulate(tmp_path / code, "mps2-an386", [x])
        assert res[code]["outputs_match_host"] and res[code]["outputs_match_reference"]
    assert res["compact"]["firmware"]["text"] < res["fast"]["firmware"]["text"]
    assert res["fast"]["total_cycles"] < res["compact"]["total_cycles"]
