"""The compiler checks what it generated before anyone uses it.

`tinyml compile` builds the generated C for the host, runs it in a process of its own on seeded random inputs
and compares every output byte with the NumPy reference executor (`tinyml.interpreter`), which runs the model layer
by layer and shares nothing with the memory plan (no arena, no patches, no in-place or overlapping buffers). The
memory plan, the patch schedule, the region kernels and the code generator are exactly what such a comparison
exercises, so a wrong offset, a buffer that dies too early or a wrong region shows up as a difference; a
difference is a compiler bug, never the user's. The tests hold the reference itself to TFLM.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .errors import TinymlError
from .interpreter import initial_states, run_reference
from .ir import Graph
from .lower import lower
from .ops.recurrent import state_bytes

SEEDS = (0, 1)  # the inputs `tinyml compile` checks with
STEPS = 3       # a model with state (SVDF) is checked on sequences of this many invokes per seed


class VerificationError(TinymlError):
    """The generated C disagrees with the reference executor (or could not run): a bug in tinyml."""

    exit_code = 70  # EX_SOFTWARE


def random_inputs(specs: list[tuple[tuple[int, ...], np.dtype]], seed: int) -> list[np.ndarray]:
    """One RandomState(seed) for all inputs, in order: integers uniform over the dtype's range, floats uniform in
    [-1, 1) (the recipe of ../shared/models/baseline.json)."""
    rs = np.random.RandomState(seed)
    out = []
    for shape, dt in specs:
        dt = np.dtype(dt)
        if dt.kind == "f":
            out.append(rs.uniform(-1, 1, size=shape).astype(dt))
        else:
            info = np.iinfo(dt)
            out.append(rs.randint(info.min, info.max + 1, size=shape).astype(dt))
    return out


def graph_inputs(g: Graph, seed: int) -> list[np.ndarray]:
    return random_inputs([(g.tensor(i).shape, g.tensor(i).dtype.numpy) for i in g.inputs], seed)


def check_generated(outdir: Path, g: Graph, what: str, seeds: tuple[int, ...] = SEEDS) -> None:
    """Build the C sources in `outdir` (a compiled model of graph `g`) for the host, run them on the inputs of
    `seeds` and compare with the reference executor; raise VerificationError naming `what` (the configuration)
    on any difference, crash or build failure of the generated code."""
    from .harness.host import build_driver, find_cc, run_driver
    from .outdir import read_report
    find_cc()  # no compiler: the ToolchainError that says so (and `--no-verify`)
    specs = read_report(outdir)["outputs"]
    with tempfile.TemporaryDirectory(prefix="tinyml-check-") as d:
        try:
            exe = build_driver(outdir, Path(d) / "check")
        except TinymlError as e:
            raise VerificationError(_internal(g, what, f"the generated C does not build on the host: {e}")) from None
        steps = STEPS if state_bytes(g) else 1
        for seed in seeds:
            seq = [graph_inputs(g, seed * 1000 + j) for j in range(steps)] if steps > 1 else [graph_inputs(g, seed)]
            states = initial_states(lower(g))
            want = [np.stack(ws) if steps > 1 else ws[0]
                    for ws in zip(*(run_reference(g, xs, states=states) for xs in seq))]
            xs = [np.stack(x) for x in zip(*seq)] if steps > 1 else seq[0]
            try:
                got = run_driver(exe, xs, specs, steps=steps)
            except TinymlError as e:
                raise VerificationError(_internal(g, what, f"on the input of seed {seed}, {e}")) from None
            for k, (w, c) in enumerate(zip(want, got)):
                w = np.asarray(w).reshape(c.shape)
                if not np.array_equal(w, c):
                    diff = np.abs(w.astype(np.float64) - c.astype(np.float64))
                    raise VerificationError(_internal(
                        g, what, f"on the input of seed {seed}, output {k} differs from the reference executor "
                        f"in {int((diff > 0).sum()):,} of {diff.size:,} values (largest difference {diff.max():g})"))


def _internal(g: Graph, what: str, detail: str) -> str:
    return (f"internal error, please report: the C that tinyml generated for '{g.source or g.name}' ({what}) "
            f"failed its self-check: {detail}. Nothing was written. This is a bug in tinyml, not in the model; "
            "please report it with the model and the command line. Another configuration may avoid it "
            "(--patch off, or another --patch/--halos).")
