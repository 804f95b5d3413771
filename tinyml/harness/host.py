"""Build generated C with the host compiler into a shared library and run it on NumPy arrays through cffi."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import cffi
import numpy as np

from ..compiler import check_inputs, read_report
from ..errors import ToolchainError
from ..ir import DType

HOST_CFLAGS = ("-std=c99", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror")
BUILD_DIR = "build/host"


def find_cc() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise ToolchainError("no host C compiler found (tried $CC, cc, gcc, clang); install gcc or clang, e.g. "
                         "`apt-get install gcc`")


def sources(outdir: Path) -> list[Path]:
    return sorted(outdir.glob("*.c"))


def build_shared(outdir: Path, cc: str | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile every .c file of `outdir` into one shared library; cached by a hash of sources and flags."""
    cc = cc or find_cc()
    srcs = sources(outdir)
    h = hashlib.sha256(" ".join((cc,) + HOST_CFLAGS + extra_flags).encode())
    for s in srcs + sorted(outdir.glob("*.h")):
        h.update(s.name.encode())
        h.update(s.read_bytes())
    lib = outdir / BUILD_DIR / f"lib{h.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(".tmp")
    cmd = [cc, *HOST_CFLAGS, *extra_flags, "-shared", "-I", str(outdir), "-o", str(tmp), *map(str, srcs), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"the host C compiler failed on the generated sources in '{outdir}':\n"
                             f"{' '.join(cmd)}\n{r.stderr.strip()}")
    os.replace(tmp, lib)
    return lib


class HostModel:
    """A compiled model loaded into this process: `HostModel(outdir).run([x, ...]) -> [y, ...]`."""

    def __init__(self, outdir: str | Path, cc: str | None = None):
        self.outdir = Path(outdir)
        self.report = read_report(self.outdir)
        p = self.report["prefix"]
        self.ffi = cffi.FFI()
        self.ffi.cdef(f"""
            int {p}_invoke(void);
            void *{p}_input(int index);
            const void *{p}_output(int index);
            size_t {p}_input_bytes(int index);
            size_t {p}_output_bytes(int index);
            int {p}_set_input_source(int index, const void *data);
        """)
        self.lib = self.ffi.dlopen(str(build_shared(self.outdir, cc)))
        self._p = p

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        xs = check_inputs(self.report["inputs"], inputs)
        p, lib, ffi = self._p, self.lib, self.ffi
        keep = []
        for k, (x, spec) in enumerate(zip(xs, self.report["inputs"])):
            n = getattr(lib, f"{p}_input_bytes")(k)
            assert n == x.nbytes, (n, x.nbytes)
            if spec.get("streamed"):  # read in place by the patch stage, from memory the caller owns
                keep.append(ffi.new("char[]", x.tobytes()))
                assert getattr(lib, f"{p}_set_input_source")(k, keep[-1]) == 0
            else:
                ffi.memmove(getattr(lib, f"{p}_input")(k), x.tobytes(), n)
        getattr(lib, f"{p}_invoke")()
        outs = []
        for k, spec in enumerate(self.report["outputs"]):
            n = getattr(lib, f"{p}_output_bytes")(k)
            raw = bytes(ffi.buffer(getattr(lib, f"{p}_output")(k), n))
            outs.append(np.frombuffer(raw, DType(spec["dtype"]).numpy).reshape(spec["shape"]).copy())
        return outs
