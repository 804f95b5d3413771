"""Shared helpers for the tests: compile a model and compare the generated C (and the reference) with TFLM."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from oracle import random_inputs, tflm_run

from tinyml.compiler import CompileOptions, compile_model
from tinyml.frontends.tflite import parse_tflite
from tinyml.harness.host import HostModel
from tinyml.interpreter import run_reference


def input_specs(g) -> list[tuple[tuple[int, ...], np.dtype]]:
    return [(g.tensor(i).shape, g.tensor(i).dtype.numpy) for i in g.inputs]


def assert_bit_exact(model: Path, outdir: Path, seeds=(0, 1, 2), options: CompileOptions | None = None) -> dict:
    """Compile `model`, run generated C and the NumPy reference on random inputs; both must equal TFLM."""
    buf = model.read_bytes()
    g = parse_tflite(buf, model.name)
    report = compile_model(model, outdir, options or CompileOptions())
    host = HostModel(outdir)
    for seed in seeds:
        xs = random_inputs(input_specs(g), seed)
        want = tflm_run(buf, xs, len(g.outputs))
        got_c = host.run(xs)
        got_ref = run_reference(g, xs)
        for k, (w, c, r) in enumerate(zip(want, got_c, got_ref)):
            assert c.dtype == w.dtype and c.shape == tuple(report["outputs"][k]["shape"])
            assert np.array_equal(c.reshape(-1), w.reshape(-1)), \
                f"{model.name} seed {seed} output {k}: generated C differs from TFLM " \
                f"(max |diff| {np.abs(c.astype(float) - w.astype(float)).max()})"
            assert np.array_equal(r.reshape(-1), w.reshape(-1)), \
                f"{model.name} seed {seed} output {k}: NumPy reference differs from TFLM"
    return report


def single_op_model(kind, ins, out, attrs=None, consts=()):
    """A one-operator .tflite written by tinyml's writer: `ins` and `out` are (shape, dtype, scale, zero point)
    activations, `consts` extra constant inputs (name, array)."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, Graph, NoAttrs, Op, Quant, Tensor

    def t(name, spec):
        shape, dtype, scale, zp = spec
        return Tensor(name, tuple(shape), dtype, None if scale is None else Quant((float(np.float32(scale)),),
                                                                                   (zp,)))
    ts = [t(f"in{k}", s) for k, s in enumerate(ins)] + [t("out", out)]
    for name, arr in consts:
        arr = np.asarray(arr)
        arr.setflags(write=False)
        ts.append(Tensor(name, arr.shape, DType.INT32 if arr.dtype == np.int32 else DType.INT8, None, arr))
    n = len(ins)
    op = Op(kind, tuple(range(n)) + tuple(range(n + 1, len(ts))), (n,), attrs or NoAttrs())
    return write_tflite(Graph("single", tuple(ts), (op,), tuple(range(n)), (n,)))


def assert_single_op_bit_exact(buf, xs, tmp_path, name):
    from oracle import tflm_run

    from tinyml.api import compile as tcompile
    from tinyml.api import run as trun
    p = tmp_path / f"{name}.tflite"
    p.write_bytes(buf)
    want = tflm_run(buf, xs, 1)[0]
    tcompile(p, tmp_path / name)
    got = trun(tmp_path / name, xs)[0]
    assert np.array_equal(got.reshape(-1), want.reshape(-1)), \
        f"{name}: {int((got.reshape(-1) != want.reshape(-1)).sum())} of {want.size} values differ from TFLM"


def keep_in_place(monkeypatch) -> None:
    """Plans keep every depthwise layer the planner ran in place (no pass to the faster way where that costs no
    SRAM, memory.techniques._faster_in_place), so that tests reach the in-place kernel."""
    import tinyml.memory.techniques as techniques
    monkeypatch.setattr(techniques, "_faster_in_place", lambda g, folded, options, pp, best, how, memo, slower: best)
