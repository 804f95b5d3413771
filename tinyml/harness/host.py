"""Build generated C with the host compiler and run it: in this process through cffi (`HostModel`), or as a
separate program (`run_driver`, the runtime's host driver: a crash there is reported, not inherited).

Every source file is compiled to an object of its own, in parallel, and objects are cached by the hash of the
compiler, the flags, the file and the headers it includes: the runtime kernels a model copies next to its
sources compile once per machine, so building a model costs about the compilation of its model and weights
files."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cffi
import numpy as np

from ..errors import ToolchainError
from ..ir import DType
from ..outdir import check_inputs, check_outdir, read_report
from ..resources import runtime_dir

HOST_CFLAGS = ("-std=c99", "-Og", "-fPIC", "-Wall", "-Wextra", "-Werror")
BUILD_DIR = "build/host"
DRIVER = "tml_host_main.c"


def find_cc() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise ToolchainError("no host C compiler found (tried $CC, cc, gcc, clang); install gcc or clang, e.g. "
                         "`apt-get install gcc`")


def sources(outdir: Path) -> list[Path]:
    return sorted(outdir.glob("*.c"))


def object_cache() -> Path | None:
    """Where compiled objects are kept across builds ($TINYML_CACHE_DIR, else ~/.cache/tinyml), or None if it
    cannot be created."""
    base = Path(os.environ.get("TINYML_CACHE_DIR") or Path.home() / ".cache" / "tinyml") / "host-objects"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


_INCLUDE = re.compile(rb'^\s*#\s*include\s+"([^"]+)"', re.M)


def _headers(src: Path, dirs: tuple[Path, ...]) -> list[Path]:
    """The quoted includes of `src`, transitively, found in `dirs` (system headers do not change per model)."""
    found: list[Path] = []
    todo = [src]
    while todo:
        for name in _INCLUDE.findall(todo.pop().read_bytes()):
            p = next((d / name.decode() for d in dirs if (d / name.decode()).is_file()), None)
            if p is not None and p not in found:
                found.append(p)
                todo.append(p)
    return sorted(found)


def _compile(cc: str, flags: tuple[str, ...], src: Path, dirs: tuple[Path, ...], cache: Path) -> Path:
    h = hashlib.sha256("\0".join((cc, *flags, src.name)).encode())
    h.update(src.read_bytes())
    for p in _headers(src, dirs):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    obj = cache / f"{src.stem}-{h.hexdigest()[:20]}.o"
    if obj.exists():
        return obj
    fd, tmp = tempfile.mkstemp(prefix=f".{obj.name}.", dir=cache)
    os.close(fd)
    cmd = [cc, *flags, *[f"-I{d}" for d in dirs], "-c", str(src), "-o", tmp]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise ToolchainError(f"the host C compiler failed on '{src}':\n{' '.join(cmd)}\n{r.stderr.strip()}")
    os.replace(tmp, obj)
    return obj


def compile_objects(srcs: list[Path], cc: str, flags: tuple[str, ...], dirs: tuple[Path, ...],
                    cache: Path) -> list[Path]:
    """Objects of `srcs` (from the cache where they are there), compiled in parallel."""
    cache.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(len(srcs), os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda s: _compile(cc, flags, s, dirs, cache), srcs))


def _link(cc: str, objs: list[Path], out: Path, extra: tuple[str, ...]) -> Path:
    """Link `objs` into `out` (written under a unique temporary name, then renamed: concurrent builds are safe)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    cmd = [cc, *extra, "-o", tmp, *map(str, objs), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise ToolchainError(f"linking the generated sources failed:\n{' '.join(cmd)}\n{r.stderr.strip()}")
    os.chmod(tmp, 0o755)
    digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    os.replace(tmp, out)
    _write_atomic(out.with_name(out.name + ".sha256"), digest)  # a truncated library is rebuilt, not loaded
    return out


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _intact(lib: Path) -> bool:
    """The cached library exists and is the one that was linked (its recorded hash matches)."""
    side = lib.with_name(lib.name + ".sha256")
    try:
        return side.read_text().strip() == hashlib.sha256(lib.read_bytes()).hexdigest()
    except OSError:
        return False


def _build(outdir: Path, cc: str | None, extra_flags: tuple[str, ...], target: Path | None = None) -> Path:
    """The sources of `outdir` linked into a shared library (cached in OUTDIR/build/host by a hash of sources and
    flags) or, with `target`, into a program with the runtime's host driver at that path."""
    cc = cc or find_cc()
    flags = HOST_CFLAGS + extra_flags
    srcs = sources(outdir)
    if target is None:
        h = hashlib.sha256(" ".join((cc, *flags)).encode())
        for s in srcs + sorted(outdir.glob("*.h")):
            h.update(s.name.encode())
            h.update(s.read_bytes())
        target = outdir / BUILD_DIR / f"lib{h.hexdigest()[:16]}.so"
        if _intact(target):
            return target
    cache = object_cache() or target.parent / "obj"
    dirs = (outdir,)
    objs = compile_objects(srcs, cc, flags, dirs, cache)
    if target.suffix == ".so":
        return _link(cc, objs, target, ("-shared",))
    prefix = read_report(outdir)["prefix"]
    objs += compile_objects([runtime_dir() / "host" / DRIVER], cc, flags + (f"-DTML_PREFIX={prefix}",), dirs, cache)
    return _link(cc, objs, target, ())


def build_shared(outdir: Path, cc: str | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile every .c file of `outdir` into one shared library; cached by a hash of sources and flags."""
    return _build(Path(outdir), cc, extra_flags)


def build_driver(outdir: Path, exe: Path, cc: str | None = None) -> Path:
    """The generated sources of `outdir` linked with the runtime's host driver into program `exe` (see
    run_driver)."""
    return _build(Path(outdir), cc, (), Path(exe))


def run_driver(exe: Path, inputs: list[np.ndarray], specs: list[dict], timeout: float = 120.0, steps: int = 1
               ) -> list[np.ndarray]:
    """Run a program from build_driver on `inputs` (already checked against the model's specs) in a process of
    its own; returns the outputs. With `steps` > 1 each input holds that many inputs along a new first axis, run
    in order by one process (state, as in SVDF, carries over), and each output gets that axis too. Raises
    ToolchainError with what happened when it crashes or fails."""
    with tempfile.TemporaryDirectory(prefix="tinyml-run-") as d:
        ins = []
        for k, x in enumerate(inputs):
            ins.append(Path(d) / f"in{k}.bin")
            ins[-1].write_bytes(np.ascontiguousarray(x).tobytes())
        outs = [Path(d) / f"out{k}.bin" for k in range(len(specs))]
        try:
            r = subprocess.run([str(exe), *map(str, ins), "--", *map(str, outs)], capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"the generated model did not finish within {timeout:.0f} s on the host") from None
        if r.returncode != 0:
            how = f"was killed by signal {-r.returncode}" if r.returncode < 0 else f"exited with {r.returncode}"
            raise ToolchainError(f"the generated model {how} on the host. {r.stderr.strip()[-500:]}")
        lead = [steps] if steps > 1 else []
        return [np.frombuffer(p.read_bytes(), DType(s["dtype"]).numpy).reshape(lead + list(s["shape"])).copy()
                for p, s in zip(outs, specs)]


class HostModel:
    """A compiled model loaded into this process: `HostModel(outdir).run([x, ...]) -> [y, ...]`."""

    def __init__(self, outdir: str | Path, cc: str | None = None, reshape: bool = False):
        self.outdir = Path(outdir)
        self.report = check_outdir(self.outdir)
        self.reshape = reshape
        p = self.report["prefix"]
        self.ffi = cffi.FFI()
        self.ffi.cdef(f"""
            int {p}_invoke(void);
            int {p}_reset(void);
            void *{p}_input(int index);
            const void *{p}_output(int index);
            size_t {p}_input_bytes(int index);
            size_t {p}_output_bytes(int index);
            int {p}_set_input_source(int index, const void *data);
        """)
        self.lib = self.ffi.dlopen(str(build_shared(self.outdir, cc)))
        self._p = p
        self.reset()  # the library may already be loaded in this process, with another sequence's state

    def reset(self) -> None:
        """Start a new sequence: a model with state (SVDF, LSTM) goes back to its reset state (the state carries
        over from one `run` to the next otherwise, as on the device). Sources generated before the state API have
        no reset function, and no state: nothing to do."""
        try:
            fn = getattr(self.lib, f"{self._p}_reset")
        except AttributeError:
            return
        fn()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        xs = check_inputs(self.report["inputs"], inputs, self.reshape)
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
