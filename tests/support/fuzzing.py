"""Fuzzing tinyml with hostile models: random byte flips and truncations of real .tflite files, and structural
mutations of their graphs (shapes, scales, zero points, strides, filter sizes, axes, tensor indices, cycles, two
writers of a tensor, writes to constants, missing inputs, outputs or operators), written back as .tflite.

Each mutant goes through `inspect`, `compile` and, when it compiled, `run`, in a worker process of its own with a
time limit, and is classified: "ok" (accepted and ran), "clean" (a TinymlError: one paragraph), "internal" (the
CLI's internal-error report: a bug, reported properly), "traceback" (any other exception), "signal" (the worker
died) or "hang" (the time limit). Used by tests/test_hardening.py (a small fixed sample) and benchmarks/fuzz.py.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("flip", "truncate", "shape", "scale", "zero_point", "attr", "index", "cycle", "writers", "const_write",
         "io", "no_ops", "swap", "weights", "qdim", "dtype")


def mutate(model: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutant of `model` (a valid .tflite): (kind, bytes)."""
    kind = rng.choice(KINDS)
    if kind == "flip":
        b = bytearray(model)
        for _ in range(rng.choice([1, 2, 8, 64])):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return kind, bytes(b)
    if kind == "truncate":
        return kind, model[:rng.randrange(len(model))]
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.frontends.tflite_writer import write_tflite
    g = parse_tflite(model, "base")
    try:
        return kind, write_tflite(_structural(g, kind, rng))
    except Exception:  # a mutation the writer cannot express: fall back to a byte flip
        b = bytearray(model)
        b[rng.randrange(len(b))] ^= 0xFF
        return "flip", bytes(b)


def _structural(g: Any, kind: str, rng: random.Random) -> Any:  # noqa: C901
    from tinyml.ir import NO_TENSOR, ConcatAttrs, ConvAttrs, DType, MeanAttrs, PoolAttrs, Quant
    tensors, ops = list(g.tensors), list(g.ops)
    bad_ints = [0, -1, -7, 1 << 20, (1 << 31) - 1]
    if kind == "shape":
        i = rng.randrange(len(tensors))
        t = tensors[i]
        if t.shape:
            shape = list(t.shape)
            shape[rng.randrange(len(shape))] = rng.choice(bad_ints + [2, 3])
            tensors[i] = dataclasses.replace(t, shape=tuple(shape))
    elif kind in ("scale", "zero_point", "qdim"):
        quantized = [i for i, t in enumerate(tensors) if t.quant is not None]
        if quantized:
            i = rng.choice(quantized)
            q = tensors[i].quant
            if kind == "scale":
                bad = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e-45, 1e38])
                q = dataclasses.replace(q, scale=tuple(bad for _ in q.scale))
            elif kind == "zero_point":
                bad = rng.choice([128, -129, 1 << 40, -(1 << 40), 300])
                q = dataclasses.replace(q, zero_point=tuple(bad for _ in q.zero_point))
            else:
                q = Quant(q.scale + (q.scale[0],), q.zero_point + (0,), rng.choice([-1, 7, 0]))
            tensors[i] = dataclasses.replace(tensors[i], quant=q)
    elif kind == "attr":
        k = rng.randrange(len(ops))
        a = ops[k].attrs
        if isinstance(a, ConvAttrs):
            a = dataclasses.replace(a, **{rng.choice(["stride_h", "stride_w", "dilation_h", "dilation_w",
                                                      "depth_multiplier"]): rng.choice([0, -1, 1000])})
        elif isinstance(a, PoolAttrs):
            a = dataclasses.replace(a, **{rng.choice(["filter_h", "filter_w", "stride_h", "stride_w"]):
                                          rng.choice([0, -3, 5000])})
        elif isinstance(a, ConcatAttrs):
            a = dataclasses.replace(a, axis=rng.choice([7, -9]))
        elif isinstance(a, MeanAttrs):
            a = dataclasses.replace(a, axes=(rng.choice([5, -8]),))
        ops[k] = dataclasses.replace(ops[k], attrs=a)
    elif kind == "index":
        k = rng.randrange(len(ops))
        ins = list(ops[k].inputs)
        if ins:
            ins[rng.randrange(len(ins))] = rng.choice([len(tensors) + 3, NO_TENSOR, rng.randrange(len(tensors))])
            ops[k] = dataclasses.replace(ops[k], inputs=tuple(ins))
    elif kind == "cycle":
        k = rng.randrange(len(ops))
        later = ops[rng.randrange(k, len(ops))].outputs[0]
        ins = list(ops[k].inputs) or [later]
        ins[0] = later
        ops[k] = dataclasses.replace(ops[k], inputs=tuple(ins))
    elif kind == "writers" and len(ops) > 1:
        a, b = rng.sample(range(len(ops)), 2)
        ops[b] = dataclasses.replace(ops[b], outputs=ops[a].outputs)
    elif kind == "const_write":
        consts = [i for i, t in enumerate(tensors) if t.is_const]
        if consts:
            k = rng.randrange(len(ops))
            ops[k] = dataclasses.replace(ops[k], outputs=(rng.choice(consts),))
    elif kind == "io":
        which = rng.choice(["inputs", "outputs"])
        value = rng.choice([(), (len(tensors) + 5,), (rng.randrange(len(tensors)),)])
        return dataclasses.replace(g, **{which: value}, tensors=tuple(tensors), ops=tuple(ops))
    elif kind == "no_ops":
        ops = []
    elif kind == "swap" and len(ops) > 1:
        a, b = rng.sample(range(len(ops)), 2)
        ops[a], ops[b] = ops[b], ops[a]
    elif kind == "weights":
        weighted = [k for k, op in enumerate(ops) if len(op.inputs) > 1 and op.inputs[1] >= 0
                    and tensors[op.inputs[1]].is_const]
        if weighted:
            k = rng.choice(weighted)
            w = tensors[ops[k].inputs[1]]
            data = np.resize(np.asarray(w.data), (w.shape[0] + rng.choice([1, 5]),) + tuple(w.shape[1:]))
            tensors[ops[k].inputs[1]] = dataclasses.replace(w, shape=data.shape, data=data)
    elif kind == "dtype":
        i = rng.randrange(len(tensors))
        t = tensors[i]
        if not t.is_const:
            tensors[i] = dataclasses.replace(t, dtype=rng.choice([DType.INT16, DType.INT32, DType.UINT8, DType.BOOL]))
    return dataclasses.replace(g, tensors=tuple(tensors), ops=tuple(ops))


def _exercise(model: bytes, workdir: str, q: Any) -> None:
    """inspect, compile and run `model` in this (worker) process; put (class, detail) on `q`."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import tinyml
    from tinyml.errors import TinymlError
    path = Path(workdir) / "m.tflite"
    path.write_bytes(model)
    stage = "inspect"
    try:
        tinyml.inspect(path)
        stage = "compile"
        rep = tinyml.compile(path, Path(workdir) / "out", patch="off")
        stage = "run"
        rs = np.random.RandomState(0)
        xs = [rs.randint(-128, 128, size=s["shape"]).astype(np.dtype(s["dtype"])) if s["dtype"] != "float32" else
              rs.uniform(-1, 1, s["shape"]).astype(np.float32) for s in rep["inputs"]]
        tinyml.run(Path(workdir) / "out", xs)
        q.put(("ok", ""))
    except TinymlError as e:
        q.put(("internal" if "internal error" in str(e) else "clean", f"{stage}: {str(e)[:200]}"))
    except Exception as e:
        q.put(("traceback", f"{stage}: {type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}"))


_CTX: Any = None


def _context() -> Any:
    """Workers forked from a clean server process that has imported tinyml once (fast, and safe beside the
    threads PyTorch and TensorFlow start in the parent)."""
    global _CTX
    if _CTX is None:
        _CTX = mp.get_context("forkserver")
        _CTX.set_forkserver_preload(["numpy", "tinyml", "tinyml.harness.host", "fuzzing"])
    return _CTX


def exercise(model: bytes, timeout: float = 120.0) -> tuple[str, str]:
    """Run `_exercise` in a process of its own: (class, detail). A worker that exits without a result and
    without a signal (the process machinery failing under load, exit status 255) is retried once."""
    cls, detail = _exercise_once(model, timeout)
    if cls == "signal" and "exit code 255" in detail:  # multiprocessing's forkserver lost track of the worker
        cls, detail = _exercise_once(model, timeout)
    return cls, detail


def _exercise_once(model: bytes, timeout: float) -> tuple[str, str]:
    ctx = _context()
    q = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="tinyml-fuzz-") as d:
        p = ctx.Process(target=_exercise, args=(model, d, q))
        p.start()
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
            return "hang", f"no answer within {timeout:.0f} s"
        if p.exitcode is not None and p.exitcode < 0:
            return "signal", f"the worker died of signal {-p.exitcode}"
        try:
            return q.get(timeout=5)
        except Exception:
            return "signal", f"the worker left no result (exit code {p.exitcode})"


def corpus(models_dir: Path, names: tuple[str, ...] = ("hello_world_int8.tflite", "ad01_int8.tflite",
                                                       "micro_speech_quantized.tflite", "kws_ref_model.tflite")
           ) -> list[bytes]:
    return [(models_dir / n).read_bytes() for n in names if (models_dir / n).is_file()]


def _cli(*args: Any) -> Any:
    return subprocess.run([sys.executable, "-m", "tinyml", *map(str, args)], capture_output=True, text=True)


def _complete(out: Path) -> str | None:
    """The model's sha256 if `out` is a complete output (every file report.json lists, with its hash)."""
    from tinyml.compiler import check_outdir
    from tinyml.errors import TinymlError
    try:
        rep = check_outdir(out)
    except TinymlError:
        return None
    return rep["sha256"]


def kill_during_compile(model_a: Path, model_b: Path, out: Path, delays: list[float]) -> list[str]:
    """Compile A into `out`, then for each delay start compiling B (or A) over it and SIGKILL the compile after
    `delay` seconds; after each kill `out` must be the old complete output or the new one, and the next compile
    must leave no temporary directory behind. Returns what `out` held after each kill ("old" or "new")."""
    import hashlib
    sha = {hashlib.sha256(m.read_bytes()).hexdigest(): m for m in (model_a, model_b)}
    r = _cli("compile", model_a, "-o", out)
    assert r.returncode == 0, r.stderr
    seen = []
    cur = model_a
    for n, delay in enumerate(delays):
        nxt = model_b if cur == model_a else model_a
        p = subprocess.Popen([sys.executable, "-m", "tinyml", "compile", str(nxt), "-o", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        got = _complete(out)
        assert got in sha, f"kill {n} after {delay:.2f} s left '{out}' incomplete: {sorted(os.listdir(out))}"
        seen.append("new" if sha[got] == nxt else "old")
        cur = sha[got]
    r = _cli("compile", cur, "-o", out)  # cleans up after the killed ones
    assert r.returncode == 0, r.stderr
    left = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not left, left
    return seen
