"""Lowering of the operators that keep state between invokes (SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM) and the
state buffers they need."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import fixedpoint as fp
from ..fixedpoint import (
    quantize_multiplier,
    sigmoid_table_u16,
    tflite_round,
)
from ..ir import (
    NO_TENSOR,
    DType,
    Graph,
    LstmAttrs,
    Op,
    OpKind,
    SvdfAttrs,
    Tensor,
)
from ..params import Kernel, KernelRow, LstmParams, SvdfParams
from .common import RANGES, Arr, check_bias, require


def offset_fold(weights: np.ndarray | None, offset: int) -> tuple[int, ...]:
    """Per row of `weights`: offset x the row's sum, wrapped to int32. sum(w * (x + offset)) is sum(w * x) plus
    this, modulo 2^32 as TFLM's int32 accumulators, so a kernel can run plain dot products."""
    assert weights is not None
    rows = np.asarray(weights, np.int64).reshape(weights.shape[0], -1).sum(axis=1) * offset
    return tuple(int(v) for v in ((rows + (1 << 31)) % (1 << 32) - (1 << 31)))


def lower_svdf(g: Graph, op: Op) -> list[Kernel]:
    """SVDF (TFLM's EvalIntegerSvdfReference): shift the state left by one, write the feature matmul requantized
    to the state type into each filter's newest slot, then per unit the time matmul over `rank` filters plus
    bias, requantized to int8. The two multipliers come from float32 products, as TFLM's Prepare computes them.
    TFLM's integer SVDF ignores the fused activation (so does tinyml). The state buffer is keyed by the output."""
    a = op.attrs
    assert isinstance(a, SvdfAttrs)
    x, wf, wt, b = (g.tensor(i) if i != NO_TENSOR else None for i in (tuple(op.inputs) + (NO_TENSOR,) * 4)[:4])
    y = g.tensor(op.outputs[0])
    assert x is not None and wf is not None and wt is not None
    require(x.dtype is DType.INT8 and y.dtype is DType.INT8 and wf.dtype is DType.INT8,
            f"SVDF is supported with int8 input, output and feature weights (here {x.dtype.value}, "
            f"{y.dtype.value}, {wf.dtype.value}); float and hybrid SVDF are not")
    require(a.state_dtype in (DType.INT16, DType.INT8) and wt.dtype is a.state_dtype,
            f"SVDF needs time weights and activation state of one type, int16 or int8 (here "
            f"{wt.dtype.value} and {a.state_dtype.value})")
    require(b is not None and b.dtype is DType.INT32 and b.quant is not None,
            "an int8 SVDF needs an int32 bias (TFLM's kernel reads the bias's scale and fails without one)")
    assert b is not None
    for t in (x, wf, wt, y):
        require(t.quant is not None and not t.quant.per_channel,
                f"SVDF tensor '{t.name}' must have one (per-tensor) scale")
    f32 = np.float32
    s_state = f32(a.state_scale)
    require(bool(s_state > 0), "SVDF's activation state has no quantization scale")
    require(abs(float(b.scale) - float(f32(s_state * f32(wt.scale)))) < 1e-5,
            f"SVDF bias scale {b.scale:g} is not activation state scale x time weights scale (TFLM requires it)")
    m1, s1 = quantize_multiplier(float(f32(f32(f32(x.scale) * f32(wf.scale)) / s_state)))
    m2, s2 = quantize_multiplier(float(f32(f32(s_state * f32(wt.scale)) / f32(y.scale))))
    filters, memory = wt.shape
    p = SvdfParams(x.shape[0], x.shape[1], filters, a.rank, memory, -x.zero_point, a.state_zero_point, m1, s1, m2,
                   s2, y.zero_point, offset_fold(wf.data, -x.zero_point), offset_fold(wt.data, -a.state_zero_point))
    func = "tml_svdf_s8" if a.state_dtype is DType.INT16 else "tml_svdf_s8_s8state"
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.inputs[2], op.inputs[3], op.outputs[0]))]


def lower_lstm(g: Graph, op: Op) -> list[Kernel]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM, TFLM's integer LSTM (lstm_eval): per step and gate, the input FC and the
    recurrent FC each requantized to int16 at 2^-12 and added with saturation, then the int16 sigmoid (tanh for
    the cell gate); the cell state becomes forget x cell + input x cell gate (int16 products requantized), clipped;
    the hidden state tanh(cell) x output gate, requantized to int8 (it is also that step's output). The
    multipliers are the ones TFLM's Prepare computes."""
    a = op.attrs
    assert isinstance(a, LstmAttrs)
    ins = g.op_inputs(op)
    x, y = ins[0], g.tensor(op.outputs[0])
    assert x is not None
    weights, biases = ins[1:9], ins[9:13]
    require(x.dtype is DType.INT8 and y.dtype is DType.INT8, f"UNIDIRECTIONAL_SEQUENCE_LSTM is supported with int8 "
            f"input and output (here {x.dtype.value} and {y.dtype.value}); float and hybrid LSTMs are not")
    for t in weights:
        assert t is not None
        require(t.dtype is DType.INT8 and t.quant is not None and not t.quant.per_channel,
                f"LSTM weights '{t.name}' must be int8 with one (per-tensor) scale")
    for t in biases:
        assert t is not None
        require(t.dtype is DType.INT32, f"LSTM bias '{t.name}' must be int32")
    require(x.quant is not None and y.quant is not None, "the LSTM's input and output must be quantized")
    require(a.activation == "tanh", "the LSTM's cell gate must use tanh")
    gate_scale, act_scale = 2.0 ** -12, 2.0 ** -15  # TFLM: FC outputs in Q3.12, nonlinearity outputs in Q0.15
    fc_in = [quantize_multiplier(float(x.scale) * float(w.scale) / gate_scale)  # type: ignore[union-attr]
             for w in weights[:4]]
    fc_rec = [quantize_multiplier(float(a.hidden_scale) * float(w.scale) / gate_scale)  # type: ignore[union-attr]
              for w in weights[4:]]
    cs = float(np.float32(a.cell_scale))
    power = int(tflite_round(float(np.float32(np.log(np.float32(cs)) * np.float32(1.0 / np.log(np.float32(2.0)))))))
    left = 15 + power - 3  # TFLM's Tanh(cell_state_scale_power): a power-of-two input rescaling
    tanh_m, tanh_s = (3 << left, 0) if left >= 0 else (3, -left)
    require(tanh_m * 32768 < (1 << 31), f"the LSTM's cell state scale {cs:g} is too large")
    fm, fs = quantize_multiplier(act_scale * cs / cs)
    um, us = quantize_multiplier(act_scale * act_scale / cs)
    hm, hs = quantize_multiplier(act_scale * act_scale / float(np.float32(a.hidden_scale)))
    clip = int(min(max(float(np.float32(a.cell_clip)) / cs, -32768.0), 32767.0)) if a.cell_clip > 0 else 0
    tm = int(a.time_major)
    batches, steps = (x.shape[1], x.shape[0]) if tm else (x.shape[0], x.shape[1])
    units = weights[0].shape[0]  # type: ignore[union-attr]
    p = LstmParams(batches, steps, x.shape[2], units, tm, -x.zero_point, -a.hidden_zero_point,
                   tuple(m for m, _ in fc_in), tuple(s for _, s in fc_in), tuple(m for m, _ in fc_rec),
                   tuple(s for _, s in fc_rec), fm, fs, um, us, hm, hs, a.hidden_zero_point, tanh_m, tanh_s, clip,
                   sigmoid_table_u16(),
                   sum((offset_fold(w.data, -x.zero_point) for w in weights[:4]), ()),  # type: ignore[union-attr]
                   sum((offset_fold(w.data, -a.hidden_zero_point) for w in weights[4:]), ()))  # type: ignore
    return [Kernel("tml_lstm_s8", p, tuple(op.inputs) + (op.outputs[0],))]


def _reset_value(dtype: DType, zero_point: int) -> int:
    """TFLM resets an int8 variable tensor to its zero point and every other type to 0 (a memset)."""
    return zero_point if dtype is DType.INT8 else 0


def op_states(g: Graph, op: Op) -> list[tuple[DType, int, int, str]]:
    """The state buffers an op keeps between invokes, in the order its kernel takes them: (type, elements, reset
    value, what it is). SVDF: its activation state; UNIDIRECTIONAL_SEQUENCE_LSTM: its hidden and cell states."""
    if op.kind is OpKind.SVDF:
        a = op.attrs
        assert isinstance(a, SvdfAttrs)
        x, wf, wt = (g.tensor(i) for i in op.inputs[:3])
        return [(a.state_dtype, x.shape[0] * wf.shape[0] * wt.shape[1],
                 _reset_value(a.state_dtype, a.state_zero_point), "activation state")]
    if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:
        a = op.attrs
        assert isinstance(a, LstmAttrs)
        x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
        n = (x.shape[1] if a.time_major else x.shape[0]) * w.shape[0]
        return [(DType.INT8, n, a.hidden_zero_point, "hidden state"), (DType.INT16, n, 0, "cell state")]
    return []


def state_bytes(g: Graph) -> int:
    """Bytes of state the model keeps between invokes (SVDF, LSTM), outside the arena."""
    return sum(dtype.storage_bytes(count) for op in g.ops for dtype, count, _, _ in op_states(g, op))


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.SVDF: lower_svdf, OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: lower_lstm,
}


def _check_unidirectional_sequence_lstm(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """UNIDIRECTIONAL_SEQUENCE_LSTM."""
    assert isinstance(a, LstmAttrs)
    if len(ins) != 13 or any(t is None or not t.is_const for t in ins[1:]):
        fail(f"{where} needs constant weights and biases for all four gates")
    w = ins[1]
    assert w is not None
    units = w.shape[0] if len(w.shape) == 2 else 0
    if len(x.shape) != 3 or len(out.shape) != 3 or out.shape != x.shape[:2] + (units,) or units < 1 or \
            any(t is None or t.shape != (units, x.shape[2]) for t in ins[1:5]) or \
            any(t is None or t.shape != (units, units) for t in ins[5:9]) or \
            any(t is None or t.shape != (units,) for t in ins[9:13]):
        fail(f"{where}: input {list(x.shape)}, weights {[list(t.shape) for t in ins[1:9] if t is not None]}, "
             f"biases and output {list(out.shape)} do not fit together")
    if not (math.isfinite(a.hidden_scale) and a.hidden_scale > 0 and math.isfinite(a.cell_scale) and
            a.cell_scale > 0 and -128 <= a.hidden_zero_point <= 127 and math.isfinite(a.cell_clip)):
        fail(f"{where}: its states have scales {a.hidden_scale} and {a.cell_scale}, hidden zero point "
             f"{a.hidden_zero_point}, cell clip {a.cell_clip}")


def _check_svdf(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SVDF."""
    assert isinstance(a, SvdfAttrs)
    wf, wt = (ins[k] if len(ins) > k else None for k in (1, 2))
    if wf is None or wt is None or not wf.is_const or not wt.is_const:
        fail(f"{where} needs constant feature and time weights")
    assert wf is not None and wt is not None
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(out.shape) != 2:
        fail(f"{where} needs a 2-D input, weights and output; got {list(x.shape)}, {list(wf.shape)}, "
             f"{list(wt.shape)}, {list(out.shape)}")
    filters = wf.shape[0]
    if a.rank < 1 or filters % a.rank or wf.shape[1] != x.shape[1] or wt.shape[0] != filters or \
            out.shape != (x.shape[0], filters // a.rank):
        fail(f"{where}: input {list(x.shape)}, feature weights {list(wf.shape)}, time weights {list(wt.shape)}, "
             f"rank {a.rank} and output {list(out.shape)} do not fit together (output [batch, filters / rank])")
    check_bias(g, where, [x, wf] + ins[3:4], filters // a.rank, fail)
    if a.state_dtype in RANGES and not RANGES[a.state_dtype][0] <= a.state_zero_point <= \
            RANGES[a.state_dtype][1] or not math.isfinite(a.state_scale) or a.state_scale < 0:
        fail(f"{where}: its activation state has scale {a.state_scale} and zero point {a.state_zero_point}")


# the structural check of each operator of this family (tinyml.validate)
CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: _check_unidirectional_sequence_lstm, OpKind.SVDF: _check_svdf,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def _wrap(v: Arr, bits: int) -> Arr:
    """Two's complement narrowing to `bits` (what TFLM's store into an int8/int16 state does)."""
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def svdf(p: SvdfParams, x: Arr, wf: Arr, wt: Arr, bias: Arr, state: Arr, bits: int) -> Arr:
    """SVDF on `state` ([batches * filters * memory], updated in place): the tflite-micro interpreter's integer
    reference. The feature matmul is requantized, clamped to the state type, then the state zero point is added
    and the sum stored with two's complement wrap-around (the order of the interpreter tinyml tests against;
    newer TFLM sources add the zero point before the clamp, which differs only where the sum leaves the type)."""
    state[:-1] = state[1:].copy()
    st = state.reshape(p.batches, p.filters, p.memory)
    acc = (x.reshape(p.batches, p.input_size).astype(np.int64) + p.input_offset) @ wf.astype(np.int64).T
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    st[:, :, -1] = _wrap(np.clip(fp.mbqm(fp.wrap32(acc), p.multiplier1, p.shift1), lo, hi) + p.state_zero_point,
                          bits)
    t = ((st - p.state_zero_point) * wt.astype(np.int64)[None]).sum(-1)
    units = p.filters // p.rank
    o = t.reshape(p.batches, units, p.rank).sum(-1) + bias.astype(np.int64)[None]
    return np.clip(fp.mbqm(fp.wrap32(o), p.multiplier2, p.shift2) + p.output_offset, -128, 127)


def _sat16(v: Arr) -> Arr:
    return np.clip(v, -32768, 32767)


def lstm(p: LstmParams, x: Arr, weights: list[Arr], biases: list[Arr], hidden: Arr, cell: Arr) -> Arr:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM's integer lstm_eval) over all time steps, `hidden` ([batches * units],
    int8 values) and `cell` (int16 values) updated in place; returns the output ([batch, time, units], or
    [time, batch, units] when time major). Each batch runs its own sequence; every step is elementwise per unit
    after the two FCs, in TFLM's order."""
    shape = (p.time_steps, p.batches) if p.time_major else (p.batches, p.time_steps)
    xs = x.reshape(shape + (p.input_size,)).astype(np.int64)
    y = np.zeros(shape + (p.units,), np.int64)
    w_in = [w.astype(np.int64) for w in weights[:4]]
    w_rec = [w.astype(np.int64) for w in weights[4:]]
    h = hidden.reshape(p.batches, p.units)
    c = cell.reshape(p.batches, p.units)
    for b in range(p.batches):
        for t in range(p.time_steps):
            xt = (xs[t, b] if p.time_major else xs[b, t]) + p.input_offset
            ht = h[b] + p.hidden_offset
            gates = []
            for k in range(4):  # input, forget, cell, output
                a = _sat16(fp.mbqm(fp.wrap32(w_in[k] @ xt + biases[k].astype(np.int64)), p.input_multiplier[k],
                                   p.input_shift[k]))
                r = _sat16(fp.mbqm(fp.wrap32(w_rec[k] @ ht), p.recurrent_multiplier[k], p.recurrent_shift[k]))
                gates.append(fp.sigmoid16(_sat16(a + r), 3, 0, tanh=k == 2))
            i_g, f_g, c_g, o_g = gates
            cb = _sat16(fp.mbqm(f_g * c[b], p.forget_multiplier, p.forget_shift))
            cb = _sat16(cb + _sat16(fp.mbqm(i_g * c_g, p.update_multiplier, p.update_shift)))
            if p.cell_clip > 0:
                cb = np.clip(cb, -p.cell_clip, p.cell_clip)
            c[b] = cb
            tc = fp.sigmoid16(cb, p.cell_tanh_multiplier, p.cell_tanh_shift, tanh=True)
            h[b] = np.clip(fp.mbqm(tc * o_g, p.hidden_multiplier, p.hidden_shift) + p.hidden_zero_point, -128, 127)
            if p.time_major:
                y[t, b] = h[b]
            else:
                y[b, t] = h[b]
    return y


def _svdf(bits: int) -> Callable[..., np.ndarray]:
    return lambda p, x, wf, wt, b, *, states: svdf(p, x, wf, wt, b, states[0], bits)


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_svdf_s8", ("tml_svdf_s8.c",), _svdf(16), stateful=True),
    KernelRow("tml_svdf_s8_s8state", ("tml_svdf_s8.c",), _svdf(8), stateful=True),
    KernelRow("tml_lstm_s8", ("tml_lstm_s8.c",),
              lambda p, x, *ws, states: lstm(p, x, list(ws[:8]), list(ws[8:12]), *states), stateful=True),
]}


def _lstm_macs(g: Graph, op: Op) -> int:
    """Per batch and step: four gates of input and recurrent fully connected products."""
    x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
    return x.shape[0] * x.shape[1] * 4 * w.shape[0] * (x.shape[2] + w.shape[0])


def _svdf_macs(g: Graph, op: Op) -> int:
    """Per batch: the feature matmul (filters x input) and the time one (filters x memory)."""
    x, wf, wt = (g.tensor(i) for i in op.inputs[:3])
    return x.shape[0] * wf.shape[0] * (wf.shape[1] + wt.shape[1])


# multiply-accumulates (tinyml.cost)
MACS: dict[OpKind, Callable[[Graph, Op], int]] = {OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: _lstm_macs,
                                                  OpKind.SVDF: _svdf_macs}
