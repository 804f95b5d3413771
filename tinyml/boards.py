"""Board descriptions: one TOML file per board under `boards/`."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TinymlError
from .resources import boards_dir


@dataclass(frozen=True)
class MemoryRegion:
    base: int
    size: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    fpu: str
    dsp: bool
    clock_hz: int
    console: str
    flash: MemoryRegion
    sram: MemoryRegion
    qemu_machine: str | None
    renode_platform: str | None
    pyocd_target: str | None


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def load_board(name: str) -> Board:
    """A bundled board by name, or a board file of the user's own (a path ending in .toml)."""
    path = Path(name) if name.endswith(".toml") else boards_dir() / f"{name}.toml"
    if not path.is_file():
        raise TinymlError(f"unknown board '{name}'. Known boards: {', '.join(board_names())} (or pass the path "
                          "of a board .toml file).")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TinymlError(f"board file '{path}' is not valid TOML: {e}") from None
    mem = d["memory"]
    emu = d.get("emulators", {})
    return Board(d["name"], d.get("description", ""), d["core"], d.get("fpu", "none"), bool(d.get("dsp", False)),
                 int(d.get("clock_hz", 0)), d.get("console", "semihosting"),
                 MemoryRegion(mem["flash"]["base"], mem["flash"]["size"]),
                 MemoryRegion(mem["sram"]["base"], mem["sram"]["size"]),
                 emu.get("qemu", {}).get("machine"), emu.get("renode", {}).get("platform"),
                 d.get("flash", {}).get("pyocd_target"))
