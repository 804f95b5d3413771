"""Where the data that ships with tinyml lives: C runtime and board files.

In a wheel, `runtime_c/` and `boards/` are installed inside the `tinyml` package; in a source checkout they sit
at the repository root, beside `tinyml/`."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for cand in (_PKG / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"tinyml installation is incomplete: no '{name}' directory next to {_PKG}")


def runtime_dir() -> Path:
    return resource_dir("runtime_c")


def boards_dir() -> Path:
    return resource_dir("boards")
