"""The reference executor: runs a graph's lowered kernel calls one by one through each call's NumPy reference
(its row in tinyml.kernels.registry), layer by layer, with no memory plan (no arena, no patches, no in-place or
overlapping buffers). The compile self-check and the tests compare the generated C with it; the tests hold it to
TFLM."""
from __future__ import annotations

import numpy as np

from .ir import NO_TENSOR, Graph
from .kernels.registry import KERNELS
from .lower import lower
from .params import Kernel, LstmParams, SvdfParams

Arr = np.ndarray


def initial_states(kernels: list[list[Kernel]]) -> dict[int, list[Arr]]:
    """The state buffers of the ops that keep state between invokes (SVDF, LSTM), at their reset values (TFLM:
    an int8 state at its zero point, others at 0), keyed by the op's output tensor, as `run_reference` carries
    them from one invoke to the next (see ops.recurrent.op_states for the generated code's twin)."""
    out = {}
    for ks in kernels:
        for k in ks:
            p = k.params
            if isinstance(p, SvdfParams):
                int8 = k.func.endswith("s8state")
                out[k.args[-1]] = [np.full(p.batches * p.filters * p.memory, p.state_zero_point if int8 else 0,
                                           np.int64)]
            elif isinstance(p, LstmParams):  # hidden (int8: at its zero point) and cell
                out[k.args[-1]] = [np.full(p.batches * p.units, p.hidden_zero_point, np.int64),
                                   np.zeros(p.batches * p.units, np.int64)]
    return out


def run_kernel(k: Kernel, bufs: dict[int, Arr], g: Graph, states: dict[int, list[Arr]] | None = None) -> None:
    """Run call `k` on the tensors in `bufs` (constants from the graph), storing its output there."""
    def get(i: int) -> Arr | None:
        if i == NO_TENSOR:
            return None
        t = g.tensor(i)
        return t.data if t.data is not None else bufs[i]
    row = KERNELS[k.func]
    assert row.reference is not None, f"{k.func} runs only inside a patch stage or in place"
    out = k.args[-1]
    yt = g.tensor(out)
    ins = [get(a) for a in k.args[:-1]]
    if row.partial:
        row.reference(k.params, *ins, out=bufs.setdefault(out, np.zeros(yt.shape, yt.dtype.numpy)))
        return
    if row.stateful:
        assert states is not None and out in states, f"{k.func} runs with its state (see initial_states)"
        y = row.reference(k.params, *ins, states=states[out])
    else:
        y = row.reference(k.params, *ins)
    bufs[out] = np.asarray(y).reshape(yt.shape).astype(yt.dtype.numpy)


def run_reference(g: Graph, inputs: list[Arr], kernels: list[list[Kernel]] | None = None,
                  keep_all: bool = False, states: dict[int, list[Arr]] | None = None) -> list[Arr] | dict[int, Arr]:
    """Run the graph on NumPy inputs; returns the outputs in the model's order (or every tensor if keep_all).
    A model with state (SVDF, LSTM) starts from its reset state, unless `states` (from `initial_states`, updated
    in place) carries it from earlier invokes."""
    kernels = kernels if kernels is not None else lower(g)
    if states is None:
        states = initial_states(kernels)
    bufs: dict[int, Arr] = {}
    for i, x in zip(g.inputs, inputs):
        bufs[i] = np.asarray(x).astype(g.tensor(i).dtype.numpy).reshape(g.tensor(i).shape)
    for op, ks in zip(g.ops, kernels):
        if not ks:  # alias (RESHAPE)
            src = op.inputs[0]
            t = g.tensor(src)
            bufs[op.outputs[0]] = (t.data if t.data is not None else bufs[src]).reshape(g.tensor(op.outputs[0]).shape)
        for k in ks:
            run_kernel(k, bufs, g, states)
    if keep_all:
        return bufs
    return [bufs[o] for o in g.outputs]
