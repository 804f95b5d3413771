"""What a compression search evaluates, kept on disk so that an interrupted or repeated search reuses it.

Each evaluation (a fine-tuned pruned network, a candidate's outputs on the validation data, a peak SRAM) is
stored under the hash of everything it depends on: the float model, the data, the configuration and the code
version (tinyml's version and the hash of its Python sources, so that a changed tinyml never reuses an old
result). Files are written atomically (a killed search leaves no half-written entry) and read back with pickle:
the cache directory is the user's own (`~/.cache/tinyml/compress`, or `$TINYML_CACHE_DIR/compress`, or
`--cache-dir`), like any build cache.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..ir import Graph
from ..version import __version__


def default_dir() -> Path:
    """Where evaluations are kept unless told otherwise."""
    return Path(os.environ.get("TINYML_CACHE_DIR") or Path.home() / ".cache" / "tinyml") / "compress"


@functools.cache
def code_version() -> str:
    """tinyml's version and a hash of its Python sources."""
    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parents[1]
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def digest(obj: Any) -> bytes:
    """A stable hash of numbers, strings, arrays, graphs and containers of them."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.digest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, np.ndarray):
        h.update(f"nd{obj.dtype.str}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, Graph):
        h.update(b"graph")
        for t in obj.tensors:
            _feed(h, (t.name, t.shape, t.dtype.value, repr(t.quant)))
            if t.data is not None:
                _feed(h, np.asarray(t.data))
        for op in obj.ops:
            _feed(h, (op.kind.value, op.inputs, op.outputs, repr(op.attrs)))
        _feed(h, (obj.inputs, obj.outputs))
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, dict):
        _feed(h, sorted(obj.items(), key=lambda kv: repr(kv[0])))
    elif isinstance(obj, (set, frozenset)):
        _feed(h, sorted(obj, key=repr))
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


@dataclass
class DiskMemo:
    """Evaluations on disk under `root` (None: nothing kept), keyed by `salt` and each call's parts."""
    root: Path | None
    salt: bytes
    reused: int = 0
    computed: int = 0

    def path(self, parts: Any) -> Path | None:
        if self.root is None:
            return None
        return self.root / f"{hashlib.sha256(self.salt + digest(parts)).hexdigest()}.pkl"

    def lookup(self, parts: Any) -> tuple[bool, Any]:
        """(found, value) for `parts`."""
        p = self.path(parts)
        if p is None or not p.is_file():
            return False, None
        try:
            value = pickle.loads(p.read_bytes())
        except Exception:  # a damaged entry is computed again
            return False, None
        self.reused += 1
        return True, value

    def store(self, parts: Any, value: Any) -> Any:
        self.computed += 1
        p = self.path(parts)
        if p is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(value))
            os.replace(tmp, p)
        return value

    def get(self, parts: Any, compute: Callable[[], Any]) -> Any:
        found, value = self.lookup(parts)
        return value if found else self.store(parts, compute())
