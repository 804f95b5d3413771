"""A compile's output directory: written atomically (it is at every moment the old output or the new one, never
half of either), recognised as tinyml's before it is replaced, and read back with proof that its files are the
ones report.json records."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import TinymlError
from .ir import DType

REPORT = "report.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_OURS = re.compile(r"^(report\.(json|html)|emulation\.json|tml_\w+\.[ch]|\w+(_weights|_kernels)?\.[ch]"
                   r"|build|firmware)$")


def owned(out: Path) -> bool:
    """True if every entry of directory `out` is something `tinyml compile`, `build` or `emulate` writes: an
    output of tinyml, possibly left half-written by a killed run of an older version, that may be replaced."""
    return all(_OURS.match(p.name) for p in out.iterdir())


def remove_stale(out: Path) -> None:
    """Remove the temporary siblings of `out` that compiles killed before they finished left behind (a live
    compile's are kept: their names carry its process id)."""
    for p in list(out.parent.glob(f".{out.name}.tmp-*")) + list(out.parent.glob(f".{out.name}.old-*")):
        m = re.match(rf"^\.{re.escape(out.name)}\.(tmp|old)-(\d+)-", p.name)
        if m is not None and _alive(int(m.group(2))):
            continue
        if m is not None and m.group(1) == "old" and (p / "d").is_dir() and not out.exists():
            os.replace(p / "d", out)  # killed between its two renames: the old output goes back in place
        shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unavailable."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_dir(new: Path, out: Path) -> None:
    """Put directory `new` in the place of `out` so that `out` is at every moment either the old or the new
    output, never a half-deleted one: one atomic exchange where the system offers it (Linux), else the old one is
    renamed aside first (a compile killed right then leaves it there, and the next compile puts it back) and
    deleted last."""
    if not out.exists():
        os.replace(new, out)
        return
    if _exchange(new, out):
        shutil.rmtree(new, ignore_errors=True)  # now the old output
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    os.replace(out, old / "d")
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)


def read_report(outdir: str | Path) -> dict:
    p = Path(outdir) / REPORT
    if not p.is_file():
        raise TinymlError(f"'{outdir}' is not a tinyml output directory (no {REPORT}); run `tinyml compile` "
                          "first")
    try:
        rep = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise TinymlError(f"'{p}' is corrupt ({type(e).__name__}); compile the model again") from None
    if not isinstance(rep, dict) or not {"prefix", "inputs", "outputs", "layers"} <= set(rep):
        raise TinymlError(f"'{p}' is not a report tinyml wrote; compile the model again")
    return rep


def check_outdir(outdir: str | Path) -> dict:
    """report.json of `outdir`, after proving that every file compile generated is still the one it wrote (a
    tampered or stale directory, or a report.json from another compile, is refused)."""
    out = Path(outdir)
    rep = read_report(out)
    files = rep.get("files")
    if not isinstance(files, dict) or not files:
        raise TinymlError(f"'{out}' was written by an older tinyml (its report.json lists no file hashes); "
                          "compile the model again")
    for name, digest in files.items():
        p = out / name
        if not p.is_file():
            raise TinymlError(f"'{out}' is incomplete: {name} is missing; compile the model again")
        if sha256_bytes(p.read_bytes()) != digest:
            raise TinymlError(f"'{out}' has changed since tinyml compile wrote it: {name} differs from the file "
                              "report.json records; compile the model again")
    return rep


def check_inputs(specs: list[dict], inputs: list[np.ndarray], reshape: bool = False) -> list[np.ndarray]:
    """Validate user inputs against the model's input specs (dtype and shape exactly; `reshape`: any shape with
    the same number of elements); returns them in the model's shapes."""
    if len(inputs) != len(specs):
        raise TinymlError(f"the model has {len(specs)} input(s) but {len(inputs)} were given")
    out = []
    for k, (spec, x) in enumerate(zip(specs, inputs)):
        x = np.asarray(x)
        want = np.dtype(DType(spec["dtype"]).numpy)
        if x.dtype != want:
            raise TinymlError(f"input {k} ('{spec['name']}') must be {want} with shape {spec['shape']}, got "
                              f"{x.dtype}; quantize it first (scale {spec.get('scale')}, zero point "
                              f"{spec.get('zero_point')})")
        if x.size != int(np.prod(spec["shape"])) or (not reshape and list(x.shape) != list(spec["shape"])):
            hint = ("; the number of elements matches: pass --reshape (reshape=True) to read it in the model's shape"
                    if x.size == int(np.prod(spec["shape"])) else "")
            raise TinymlError(f"input {k} ('{spec['name']}') must have shape {spec['shape']}, got "
                              f"{list(x.shape)}{hint}")
        out.append(np.ascontiguousarray(x.reshape(spec["shape"])))
    return out
