"""Post-training quantization with TFLite's integer scheme.

- weights: symmetric per output channel (int4 FULLY_CONNECTED per tensor: TFLM refuses per-channel there), int8 in
  [-127, 127] or int4 in [-7, 7]; the scale is max|w| (`minmax`) or the clipping that minimizes the squared
  error (`mse`, the default for int4);
- activations: asymmetric per tensor, int8, range from calibration data with `minmax`, `percentile` or `mse`;
- bias: int32 on the grid input scale x weight scale, optionally corrected for the mean error the weight
  rounding introduces (empirical bias correction, Nagel et al. 2019);
- ops whose TFLM kernels fix their output quantization get it (SOFTMAX/LOGISTIC 1/256, -128; TANH 1/128, 0;
  pooling, RESHAPE, PAD and RELU6 keep their input's).

`quantize_graph(float_graph, config)` writes the integer graph; `GraphExecutor(float_graph, config)` is its
fake-quantized twin.
"""
from __future__ import annotations

import numpy as np

from ..errors import TinymlError
from ..ir import NO_TENSOR, DType, Graph, GraphBuilder, NoAttrs, Op, OpKind, Quant
from .config import FIXED_OUTPUT, INT8_ONLY, SAME_AS_INPUT, SHARED_INPUTS, WEIGHTED, QuantConfig, range16

ESTIMATORS = ("minmax", "percentile", "mse")
SAMPLES = 1 << 16


def wide_capable(g: Graph) -> list[int]:
    """The ops tinyml (and TFLM) run in 16x8: int16 activations with zero point 0, int8 weights."""
    from ..ops.common import WIDE_OPS
    return [k for k, op in enumerate(g.ops) if op.kind in WIDE_OPS or op.kind is OpKind.RESHAPE]


def weighted_ops(g: Graph, narrowable: bool = False) -> list[int]:
    """The ops with weights (`narrowable`: those that may take int4 weights)."""
    return [k for k, op in enumerate(g.ops) if op.kind in WEIGHTED and not (narrowable and op.kind in INT8_ONLY)]


def _channel_axis(g: Graph, k: int) -> int:
    return 3 if g.ops[k].kind is OpKind.DEPTHWISE_CONV_2D else 0


def weight_scales(g: Graph, k: int, bits: int, estimator: str = "auto") -> np.ndarray:
    """Per-output-channel symmetric scales of op k's weights (one scale for an int4 FULLY_CONNECTED)."""
    op = g.ops[k]
    w = np.asarray(g.tensor(op.inputs[1]).data, np.float64)
    qmax = (1 << (bits - 1)) - 1
    axis = _channel_axis(g, k)
    per_tensor = op.kind is OpKind.FULLY_CONNECTED and bits == 4  # TFLM has no per-channel int4 FC
    wc = w.reshape(1, -1) if per_tensor else np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    amax = np.maximum(np.abs(wc).max(axis=1), 1e-8)
    if estimator == "auto":
        estimator = "mse" if bits < 8 else "minmax"
    if estimator == "minmax":
        return (amax / qmax).astype(np.float32)
    best, best_err = amax / qmax, np.full(len(amax), np.inf)
    for ratio in np.linspace(0.3, 1.0, 36):
        s = ratio * amax / qmax
        err = ((np.clip(np.round(wc / s[:, None]), -qmax, qmax) * s[:, None] - wc) ** 2).sum(axis=1)
        better = err < best_err
        best, best_err = np.where(better, s, best), np.where(better, err, best_err)
    return best.astype(np.float32)


def act_params(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's asymmetric int8 parameters for a real range (widened to contain 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def _estimate(samples: np.ndarray, lo: float, hi: float, estimator: str, percentile: float) -> tuple[float, float]:
    if estimator == "minmax" or samples.size == 0:
        return lo, hi
    if estimator == "percentile":
        return float(np.percentile(samples, 100 - percentile)), float(np.percentile(samples, percentile))
    best, best_err = (lo, hi), np.inf
    for ratio in np.linspace(0.2, 1.0, 41):
        a, b = lo * ratio, hi * ratio
        s, z = act_params(a, b)
        q = np.clip(np.round(samples / s) + z, -128, 127)
        err = float((((q - z) * s - samples) ** 2).mean())
        if err < best_err:
            best, best_err = (a, b), err
    return best


class _Stats:
    def __init__(self, seed: int) -> None:
        self.lo, self.hi = np.inf, -np.inf
        self.samples: list[np.ndarray] = []
        self.count = 0
        self.rng = np.random.default_rng(seed)

    def add(self, v: np.ndarray) -> None:
        v = v.reshape(-1)
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        take = min(v.size, SAMPLES // 4)
        self.samples.append(v[self.rng.choice(v.size, take, replace=False)] if take < v.size else v)
        self.count += take


def calibrate(g: Graph, data: np.ndarray, *, estimator: str = "minmax", percentile: float = 99.99,
              weight_bits: dict[int, int] | None = None, weight_estimator: str = "auto",
              bias_correction: bool = True, batch: int = 64) -> QuantConfig:
    """Quantization parameters for float graph `g` from calibration inputs `data` (NHWC float, batch first)."""
    import torch

    from .executor import GraphExecutor
    if estimator not in ESTIMATORS:
        raise TinymlError(f"unknown range estimator '{estimator}'; choose one of {', '.join(ESTIMATORS)}")
    data = np.asarray(data, np.float32)
    want = tuple(g.tensor(g.inputs[0]).shape[1:])
    if data.ndim < 2 or tuple(data.shape[1:]) != want:
        raise TinymlError(f"calibration data has shape {list(data.shape)}, but the model takes "
                          f"[N, {', '.join(map(str, want))}] (NHWC)")
    if len(data) == 0:
        raise TinymlError("calibration data is empty")
    bits = {k: 8 if g.ops[k].kind in INT8_ONLY else (weight_bits or {}).get(k, 8) for k in weighted_ops(g)}
    scales = {k: weight_scales(g, k, b, weight_estimator) for k, b in bits.items()}
    ex = GraphExecutor(g)
    stats: dict[int, _Stats] = {}
    bias_err: dict[int, np.ndarray] = {}
    with torch.no_grad():
        for s in range(0, len(data), batch):
            xb = torch.tensor(data[s:s + batch])
            ex.trace = {}
            ex(xb)
            trace = {g.inputs[0]: xb, **ex.trace}
            for t, v in trace.items():
                if t >= 0:
                    stats.setdefault(t, _Stats(t)).add(v.numpy())
            if bias_correction:
                for k in bits:
                    err = _weight_error(g, k, scales[k], bits[k], trace[-(k + 1)])
                    bias_err[k] = bias_err.get(k, 0) + err * len(xb)
    cfg = QuantConfig(weight_bits=bits, weight_scale=scales)
    for k in bits:
        ins = g.ops[k].inputs
        bdata = g.tensor(ins[2]).data if len(ins) > 2 and ins[2] != NO_TENSOR else None
        b = np.asarray(bdata, np.float32) if bdata is not None else \
            np.zeros(g.tensor(g.ops[k].outputs[0]).shape[-1], np.float32)
        cfg.bias[k] = (b - bias_err[k] / len(data)).astype(np.float32) if bias_correction else b
    for t, st in stats.items():
        smp = np.concatenate(st.samples) if st.samples else np.zeros(0)
        cfg.act[t] = act_params(*_estimate(smp, st.lo, st.hi, estimator, percentile))
    for i, t in enumerate(g.tensors):
        if t.is_const and t.dtype is DType.FLOAT32 and any(i in op.inputs[:2] and op.kind not in WEIGHTED
                                                           for op in g.ops):
            m = float(np.abs(t.data).max()) or 1.0
            cfg.act[i] = (float(np.float32(m / 127)), 0)
    return constrain(g, cfg)


def _weight_error(g: Graph, k: int, scales: np.ndarray, bits: int, x) -> np.ndarray:  # noqa: ANN001
    """Mean over batch and positions of op k's output change caused by rounding its weights (no bias)."""
    import torch

    from ..ops.conv import float_weighted
    op = g.ops[k]
    w = np.asarray(g.tensor(op.inputs[1]).data, np.float32)
    qmax = (1 << (bits - 1)) - 1
    shape = [1] * w.ndim
    shape[_channel_axis(g, k)] = -1
    s = scales.reshape(shape) if scales.size > 1 else scales
    dw = torch.tensor(np.clip(np.round(w / s), -qmax, qmax) * s - w)
    y = float_weighted(op, x, dw, None, tuple(g.tensor(op.outputs[0]).shape[1:3]))
    return y.reshape(-1, y.shape[-1]).mean(0).numpy()


def constrain(g: Graph, cfg: QuantConfig) -> QuantConfig:
    """Apply the output quantization TFLM's kernels require, in execution order. A CONCATENATION input made
    for the concatenation alone by an op free to choose its output quantization takes the concatenation's (whose
    range covers it), as TensorFlow's converter does: no requantization, and its producer can write straight into
    the output (zero-copy concatenation). MAXIMUM/MINIMUM compare raw int8 values, so their inputs take the
    output's quantization the same way (clipping to the output's range commutes with max and min); a constant
    operand is quantized with it, any other input requantized to it (quantize_graph)."""
    consumers = g.consumers()
    producer = {o: op for op in g.ops for o in op.outputs}
    for op in g.ops:
        out = op.outputs[0]
        if op.kind in FIXED_OUTPUT:
            cfg.act[out] = FIXED_OUTPUT[op.kind]
        elif op.kind in SAME_AS_INPUT:
            cfg.act[out] = cfg.act[op.inputs[0]]
    for op in reversed(g.ops):  # an outer concatenation first: its quantization reaches nested inputs
        if op.kind not in SHARED_INPUTS or op.outputs[0] not in cfg.act:
            continue
        for i in op.inputs:
            if g.tensor(i).is_const and op.kind is not OpKind.CONCATENATION:
                cfg.act[i] = cfg.act[op.outputs[0]]
                continue
            src = producer.get(i)
            if (src is not None and len(consumers.get(i, [])) == 1 and op.inputs.count(i) == 1
                    and i not in g.outputs and src.kind not in FIXED_OUTPUT and src.kind not in SAME_AS_INPUT):
                cfg.act[i] = cfg.act[op.outputs[0]]
    return cfg


def quantize_graph(g: Graph, cfg: QuantConfig) -> Graph:
    """The integer graph: int8 input/output and activations, int8/int4 weights, int32 biases; the ops in
    `cfg.wide` in 16x8 (int16 activations with zero point 0, int64 biases), QUANTIZE ops converting between the
    two widths where a tensor meets an op of the other width (the graph's inputs and outputs stay int8)."""
    q = _Quantizer(g, cfg)
    for k, op in enumerate(g.ops):
        if op.kind in WEIGHTED:
            q.weighted(k, op)
        else:
            q.other(op, k in cfg.wide)
    inputs = tuple(q.act(i) for i in g.inputs)
    outputs = tuple(q.act(o) for o in g.outputs)  # as the op that makes it leaves it
    return q.b.build(g.name, inputs, outputs, g.source)


class _Quantizer:
    """quantize_graph's state: the integer graph being built and each float tensor's integer counterpart."""

    def __init__(self, g: Graph, cfg: QuantConfig) -> None:
        self.g, self.cfg = g, cfg
        self.b = GraphBuilder()
        self.new: dict[int, int] = {}
        self.a16 = cfg.act16(g) if cfg.wide else {}
        self.other_width: dict[int, int] = {}  # tensor -> its copy converted to the other width

    def act(self, i: int) -> int:
        """Activation (or constant activation input) `i` as an integer tensor of its own width."""
        if i in self.new:
            return self.new[i]
        t = self.g.tensor(i)
        if i not in self.cfg.act:
            raise TinymlError(f"tensor '{t.name}' has no calibration range; the calibration data never reached "
                              "it")
        if i in self.a16:
            self.new[i] = self.b.tensor(t.name, t.shape, DType.INT16, Quant((self.a16[i][0],), (0,)))
            return self.new[i]
        s, z = self.cfg.act[i]
        data = None
        if t.is_const:
            data = np.clip(np.round(np.asarray(t.data, np.float64) / s) + z, -128, 127).astype(np.int8)
        self.new[i] = self.b.tensor(t.name, t.shape, DType.INT8, Quant((s,), (z,)), data)
        return self.new[i]

    def as_width(self, i: int, wide: bool) -> int:
        """Activation tensor i as an op of that width reads it: converted by a QUANTIZE where widths differ."""
        src = self.act(i)
        if (i in self.a16) == wide:
            return src
        if i not in self.other_width:
            t = self.g.tensor(i)
            if wide:
                s, z = range16(*self.cfg.act[i])
                dst = self.b.tensor(f"{t.name}_int16", t.shape, DType.INT16, Quant((s,), (0,)))
            else:
                s, z = self.cfg.act[i]
                dst = self.b.tensor(f"{t.name}_int8", t.shape, DType.INT8, Quant((s,), (z,)))
            self.b.op(OpKind.QUANTIZE, (src,), (dst,), NoAttrs(), f"{t.name}_to_int{16 if wide else 8}")
            self.other_width[i] = dst
        return self.other_width[i]

    def const(self, i: int) -> int:
        if i not in self.new:
            t = self.g.tensor(i)
            self.new[i] = self.b.tensor(t.name, t.shape, t.dtype, t.quant, t.data)
        return self.new[i]

    def weighted(self, k: int, op: Op) -> None:
        """A convolution or fully connected op: weights quantized per channel to their width, the bias to int32
        (int64 in 16x8) at the input scale times each weight scale."""
        g, cfg, b = self.g, self.cfg, self.b
        wide = k in cfg.wide
        x = self.as_width(op.inputs[0], wide)
        wt = g.tensor(op.inputs[1])
        bits = cfg.weight_bits.get(k, 8)
        qmax = (1 << (bits - 1)) - 1
        axis = _channel_axis(g, k)
        scales = np.asarray(cfg.weight_scale[k], np.float32)
        shape = [1] * len(wt.shape)
        shape[axis] = -1
        s = scales.reshape(shape) if scales.size > 1 else scales
        q = np.clip(np.round(np.asarray(wt.data, np.float32) / s), -qmax, qmax).astype(np.int8)
        wdt = DType.INT8 if bits == 8 else DType.INT4
        w = b.tensor(wt.name, wt.shape, wdt, Quant(tuple(float(v) for v in scales), (0,) * scales.size, axis), q)
        in_s = np.float32(b.tensors[x].quant.scale[0])
        bscale = (in_s * scales).astype(np.float32)
        lim = 2**63 - 1 if wide else 2**31 - 1
        bq = np.clip(np.round(np.asarray(cfg.bias[k], np.float64) / bscale), -lim - 1, lim).astype(
            np.int64 if wide else np.int32)
        bname = g.tensor(op.inputs[2]).name if len(op.inputs) > 2 and op.inputs[2] != NO_TENSOR else \
            f"{wt.name}_bias"
        bias = b.tensor(bname, (len(bq),), DType.INT64 if wide else DType.INT32,
                        Quant(tuple(float(v) for v in bscale), (0,) * bscale.size, 0), bq)
        b.op(op.kind, (x, w, bias), (self.act(op.outputs[0]),), op.attrs, op.name)

    def other(self, op: Op, wide: bool) -> None:
        """Any other op: its inputs as it reads them (constants as they are or quantized, activations of its
        width, requantized where it needs its output's quantization on its inputs)."""
        g, cfg, b = self.g, self.cfg, self.b
        ins: list[int] = []
        for pos, i in enumerate(op.inputs):
            t = g.tensor(i) if i != NO_TENSOR else None
            if t is not None and t.is_const and (t.dtype is not DType.FLOAT32 or
                                                 op.kind in (OpKind.RESHAPE, OpKind.PAD, OpKind.MEAN,
                                                             OpKind.STRIDED_SLICE) and pos > 0):
                ins.append(self.const(i))
                continue
            if wide and t is not None and t.is_const:  # a float constant of a 16x8 op: int16, symmetric
                s16 = float(np.float32(max(float(np.abs(t.data).max()), 1e-8) / 32767))
                q16 = np.clip(np.round(np.asarray(t.data, np.float64) / s16), -32767, 32767).astype(np.int16)
                ins.append(b.tensor(f"{t.name}_int16", t.shape, DType.INT16, Quant((s16,), (0,)), q16))
                continue
            src = self.as_width(i, wide) if not g.tensor(i).is_const else self.act(i)
            if op.kind in SHARED_INPUTS and cfg.act[i] != cfg.act[op.outputs[0]]:
                s, z = cfg.act[op.outputs[0]]
                rq = b.tensor(f"{g.tensor(i).name}_requant", g.tensor(i).shape, DType.INT8, Quant((s,), (z,)))
                b.op(OpKind.QUANTIZE, (src,), (rq,), NoAttrs(), f"{op.name}_requant{pos}")
                src = rq
            ins.append(src)
        b.op(op.kind, tuple(ins), tuple(self.act(o) for o in op.outputs), op.attrs, op.name)


def weight_bytes(g: Graph) -> int:
    """Bytes of all constant tensors of a quantized graph (weights, biases, other constants)."""
    return sum(t.nbytes for t in g.tensors if t.is_const)


def quantize_input(g: Graph, x: np.ndarray, index: int = 0) -> np.ndarray:
    """Float input `index` of integer graph `g` quantized as TFLite does (tinyml.quantize_input)."""
    from ..ops.quantize import quantize_values
    t = g.tensor(g.inputs[index])
    s, z = t.quant.scalar()
    return quantize_values(x, s, z, wide=t.dtype is DType.INT16).reshape(np.shape(x))


def dequantize_output(g: Graph, y: np.ndarray, index: int = 0) -> np.ndarray:
    from ..ops.quantize import dequantize_values
    s, z = g.tensor(g.outputs[index]).quant.scalar()
    return dequantize_values(y, s, z)

