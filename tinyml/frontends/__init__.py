"""Front ends: import a model into `tinyml.ir.Graph`."""
from __future__ import annotations

from pathlib import Path

from ..errors import TinymlError


def read_model(path: str | Path) -> bytes:
    """The bytes of a model file, or a clear error when it is missing or not a file."""
    p = Path(path)
    if not p.exists():
        raise TinymlError(f"model file '{p}' does not exist")
    if p.is_dir():
        raise TinymlError(f"'{p}' is a directory, not a .tflite model file")
    return p.read_bytes()
