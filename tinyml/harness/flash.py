"""Program a board through a debug probe with pyocd (PyPI).

The test firmware of `tinyml build` prints through Arm semihosting, so on hardware run it under a debugger
with semihosting enabled (e.g. `pyocd gdbserver --semihosting`); without one the first console call traps.
"""
from __future__ import annotations

from pathlib import Path

from ..boards import load_board
from ..errors import TinymlError
from .firmware import build


def flash(outdir: str | Path, board_name: str, opt: str = "-O2", probe: str | None = None) -> Path:
    board = load_board(board_name)
    if not board.pyocd_target:
        raise TinymlError(f"board {board.name} has no pyocd target in its board file, so tinyml cannot flash it "
                          "(it is an emulator-only board, or add [flash] pyocd_target = \"...\" to the board file)")
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise TinymlError("flashing needs pyocd: pip install pyocd (or pip install 'tinyml[flash]')") from None
    probes = ConnectHelper.get_all_connected_probes(blocking=False, unique_id=probe, print_wait_message=False)
    if not probes:
        raise TinymlError(f"no debug probe found{f' with id {probe}' if probe else ''}: connect the board's "
                          "ST-LINK/J-Link/CMSIS-DAP probe over USB (and check its udev permissions), then retry. "
                          "`pyocd list` shows what pyocd can see.")
    fw = build(outdir, board.name, opt)
    try:
        with ConnectHelper.session_with_chosen_probe(unique_id=probes[0].unique_id, blocking=False,
                                                     target_override=board.pyocd_target) as session:
            FileProgrammer(session).program(str(fw.elf), file_format="elf")
    except Exception as e:  # pyocd reports unknown targets, locked chips and USB errors as exceptions
        raise TinymlError(f"pyocd could not program {board.name} (target {board.pyocd_target}): {e}. If pyocd "
                          f"does not know the target, install its CMSIS pack: pyocd pack install "
                          f"{board.pyocd_target}") from None
    return fw.elf
