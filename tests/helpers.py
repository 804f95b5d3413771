"""Shared helpers for the tests: compile a model and compare the generated C (and the reference) with TFLM."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from oracle import random_inputs, tflm_run

from tinyml.compiler import CompileOptions, compile_model
from tinyml.frontends.tflite import parse_tflite
from tinyml.harness.host import HostModel
from tinyml.reference import run_reference


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
