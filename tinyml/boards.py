"""Board descriptions: one TOML file per board under `boards/`."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TinymlError
from .resources import boards_dir

STACK_BYTES = 8192       # the stack the generated firmware reserves at the top of SRAM (its linker script)
FIRMWARE_RAM_BYTES = 64  # .data + .bss of the firmware besides the arena (0 measured on every bundled board; room
                         # for newlib's and the linker's alignment), checked by tests/test_firmware.py


@dataclass(frozen=True)
class MemoryRegion:
    base: int
    size: int


@dataclass(frozen=True)
class Timing:
    """What the cycle model needs beyond the core (tinyml.harness.counting): cycles of pipeline refill after a
    taken branch (1-3), and flash wait states per instruction fetched from and per load from the flash range
    (0: the core runs from zero-wait-state memory)."""
    branch_penalty: int = 2
    fetch_wait_states: int = 0
    load_wait_states: int = 0


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    fpu: str
    dsp: bool
    mve: bool
    clock_hz: int
    console: str
    flash: MemoryRegion
    sram: MemoryRegion
    qemu_machine: str | None
    renode_platform: str | None
    pyocd_target: str | None
    timing: Timing = Timing()

    @property
    def arena_budget(self) -> int:
        """Bytes of SRAM the model's arena may take: what `tinyml build` leaves after the stack and the firmware's
        own data (the same numbers its linker check uses)."""
        return self.sram.size - STACK_BYTES - FIRMWARE_RAM_BYTES

    def describe_budget(self) -> str:
        return (f"{self.name}'s {self.sram.size:,} bytes of SRAM less the firmware's {STACK_BYTES:,}-byte stack and "
                f"{FIRMWARE_RAM_BYTES} bytes of its own data, i.e. {self.arena_budget:,} bytes for the arena")


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def load_board(name: str) -> Board:
    """A bundled board by name, or a board file of the user's own (a path ending in .toml)."""
    path = Path(name) if name.endswith(".toml") else boards_dir() / f"{name}.toml"
    if not path.is_file():
        raise TinymlError(f"unknown board '{name}'. Known boards: {', '.join(board_names())} (or pass the path "
                          "of a board .toml file).")
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TinymlError(f"board file '{path}' is not valid UTF-8 TOML: {e}") from None
    except OSError as e:
        raise TinymlError(f"board file '{path}' cannot be read: {e.strerror}") from None
    try:
        mem = d["memory"]
        emu = d.get("emulators", {})
        board = Board(str(d["name"]), str(d.get("description", "")), str(d["core"]), str(d.get("fpu", "none")),
                      bool(d.get("dsp", False)), bool(d.get("mve", False)), int(d.get("clock_hz", 0)),
                      str(d.get("console", "semihosting")),
                      MemoryRegion(int(mem["flash"]["base"]), int(mem["flash"]["size"])),
                      MemoryRegion(int(mem["sram"]["base"]), int(mem["sram"]["size"])),
                      emu.get("qemu", {}).get("machine"), emu.get("renode", {}).get("platform"),
                      d.get("flash", {}).get("pyocd_target"), _timing(d.get("timing", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise TinymlError(f"board file '{path}' lacks or mistypes a field ({type(e).__name__}: {e}); a board needs "
                          "name, core, and [memory.flash] and [memory.sram] with base and size (see "
                          "boards/mps2-an386.toml)") from None
    if min(board.flash.size, board.sram.size) <= 0:
        raise TinymlError(f"board file '{path}': memory sizes must be positive")
    t = board.timing
    if not 1 <= t.branch_penalty <= 3 or not 0 <= min(t.fetch_wait_states, t.load_wait_states) <= \
            max(t.fetch_wait_states, t.load_wait_states) <= 15:
        raise TinymlError(f"board file '{path}': [timing] branch_penalty must be 1-3 cycles and the wait states "
                          f"0-15, got {t.branch_penalty}, {t.fetch_wait_states}, {t.load_wait_states}")
    return board


def _timing(d: dict) -> Timing:
    unknown = set(d) - {"branch_penalty", "fetch_wait_states", "load_wait_states"}
    if unknown:
        raise KeyError(f"[timing] {', '.join(sorted(unknown))}")
    return Timing(int(d.get("branch_penalty", 2)), int(d.get("fetch_wait_states", 0)),
                  int(d.get("load_wait_states", 0)))
