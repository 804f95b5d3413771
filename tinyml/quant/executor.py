"""PyTorch executor of a float IR graph: the float model, its fake-quantized twin and the QAT model are one class.

Activations are NHWC with any batch size.  With a `QuantConfig` every activation tensor is fake-quantized with
its (scale, zero point), weights per channel with their bit width and bias on the int32 grid of
input scale x weight scale, mirroring what `tinyml.quant.ptq.quantize_graph` writes as integers.  With
`trainable=True` weights, biases and every scale are parameters (LSQ: rounding passes gradients straight
through, scales learn through the clamp), and `export_config()` gives the config whose integer model equals
this forward pass.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import ops
from ..ir import NO_TENSOR, Graph, OpKind
from ..ops.common import FloatCall, float_activation
from ..ops.conv import float_weighted
from .config import FIXED_OUTPUT, SAME_AS_INPUT, WEIGHTED, QuantConfig, range16


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    return (torch.round(v) - v).detach() + v


def fake_quant(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor | float, lo: int, hi: int) -> torch.Tensor:
    return (torch.clamp(_round_ste(x / scale) + zp, lo, hi) - zp) * scale


# the float execution of every operator but the weighted ones, from its family
FLOAT = ops.gather("FLOAT")


class GraphExecutor(nn.Module):
    def __init__(self, g: Graph, config: QuantConfig | None = None, trainable: bool = False) -> None:
        super().__init__()
        self.g = g
        self.config = config
        self.w = nn.ParameterDict()
        self.b = nn.ParameterDict()
        self.consts: dict[int, torch.Tensor] = {}
        self.w_scale = nn.ParameterDict()
        self.a_scale = nn.ParameterDict()
        self.a_zp: dict[int, float] = {}
        self.trace: dict[int, torch.Tensor] | None = None
        for k, op in enumerate(g.ops):
            if op.kind in WEIGHTED:
                w = g.tensor(op.inputs[1]).data
                b = g.tensor(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] != NO_TENSOR else None
                assert w is not None
                if config is not None and k in config.bias:
                    b = config.bias[k]
                self.w[str(k)] = nn.Parameter(torch.tensor(np.asarray(w, np.float32)), requires_grad=trainable)
                bias = np.zeros(w.shape[-1 if op.kind is OpKind.DEPTHWISE_CONV_2D else 0], np.float32) \
                    if b is None else np.asarray(b, np.float32)
                self.b[str(k)] = nn.Parameter(torch.tensor(bias), requires_grad=trainable)
                if config is not None:
                    self.w_scale[str(k)] = nn.Parameter(torch.tensor(np.asarray(config.weight_scale[k], np.float32)),
                                                        requires_grad=trainable)
            for i in op.inputs:
                if i != NO_TENSOR and g.tensor(i).is_const and i not in self.consts:
                    self.consts[i] = torch.tensor(np.asarray(g.tensor(i).data, np.float32))
        # outputs whose quantization TFLM ties to the input's (pooling, reshape, ...) share its scale; fixed
        # ones (softmax, logistic, tanh) do not learn
        self.alias: dict[int, int] = {}
        fixed = set()
        for op in g.ops:
            if op.kind in SAME_AS_INPUT:
                self.alias[op.outputs[0]] = self.alias.get(op.inputs[0], op.inputs[0])
            elif op.kind in FIXED_OUTPUT:
                fixed.add(op.outputs[0])
        # 16x8 ops (config.wide): their outputs fake-quantized as int16 (fixed parameters, not learnt); a tensor
        # read by an op of the other width converted as the integer graph's QUANTIZE does
        self.act16 = config.act16(g) if config is not None and config.wide else {}
        if config is not None:
            for t, (s, z) in config.act.items():
                if t not in self.alias:
                    self.a_scale[str(t)] = nn.Parameter(torch.tensor(float(s)),
                                                        requires_grad=trainable and t not in fixed)
                self.a_zp[t] = float(z)

    # ---- quantization helpers ----------------------------------------------------------------------------------
    def _scale(self, t: int) -> torch.Tensor:
        return self.a_scale[str(self.alias.get(t, t))].abs() + 1e-12

    def _fq(self, t: int, x: torch.Tensor) -> torch.Tensor:
        if self.config is None or t not in self.a_zp:
            return x
        if t in self.act16:
            return fake_quant(x, torch.tensor(self.act16[t][0]), 0.0, -32768, 32767)
        return fake_quant(x, self._scale(t), self.a_zp[t], -128, 127)

    def _as_width(self, t: int, x: torch.Tensor, wide: bool) -> torch.Tensor:
        """Tensor t's value as an op of the given width reads it (QUANTIZE between int8 and int16)."""
        if not self.act16 or (t in self.act16) == wide or t not in self.a_zp or t in self.consts:
            return x
        if wide:
            s, _ = range16(float(self._scale(t).detach()), int(self.a_zp[t]))
            return fake_quant(x, torch.tensor(s), 0.0, -32768, 32767)
        return fake_quant(x, self._scale(t), self.a_zp[t], -128, 127)

    def _weights(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.w[str(k)], self.b[str(k)]
        if self.config is None:
            return w, b
        op = self.g.ops[k]
        bits = self.config.weight_bits.get(k, 8)
        qmax = (1 << (bits - 1)) - 1
        s = self.w_scale[str(k)].abs() + 1e-12
        axis = 3 if op.kind is OpKind.DEPTHWISE_CONV_2D else 0
        shape = [1] * w.dim()
        shape[axis] = -1
        wq = fake_quant(w, s.reshape(shape) if s.numel() > 1 else s, 0.0, -qmax, qmax)
        in_s = self._scale(op.inputs[0])
        if k in self.config.wide:  # a 16x8 op reads its input as int16
            t = op.inputs[0]
            in_s = torch.tensor(self.act16[t][0] if t in self.act16 else
                                range16(float(in_s.detach()), int(self.a_zp.get(t, 0)))[0])
        bs = in_s * s
        bq = _round_ste(b / bs) * bs
        return wq, bq

    # ---- forward ------------------------------------------------------------------------------------------------
    def forward(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        g = self.g
        vals: dict[int, torch.Tensor] = {}
        for i, x in zip(g.inputs, inputs, strict=True):
            vals[i] = self._fq(i, x)
        for k, op in enumerate(g.ops):
            wide = self.config is not None and k in self.config.wide

            def get(i: int, wide: bool = wide) -> torch.Tensor:
                return self._as_width(i, vals[i], wide) if i in vals else self.consts[i]
            y = self._op(k, op, get)
            out = op.outputs[0]
            vals[out] = self._fq(out, y)
            if self.trace is not None:
                self.trace[out] = vals[out]
        return [vals[o] for o in g.outputs]

    def _op(self, k: int, op, get) -> torch.Tensor:  # noqa: ANN001
        """Operator `k` in float: a weighted one with this module's weights (fake-quantized in a quantized run),
        the others by their family's float execution (tinyml.ops: `FLOAT`)."""
        x = get(op.inputs[0])
        if op.kind in WEIGHTED:
            w, b = self._weights(k)
            if self.trace is not None:
                self.trace[-(k + 1)] = x  # layer input, for bias correction
            y = float_weighted(op, x, w, b, tuple(self.g.tensor(op.outputs[0]).shape[1:3]))
            return float_activation(y, op.attrs.activation)
        run = FLOAT.get(op.kind)
        if run is None:
            raise NotImplementedError(op.kind)
        return run(FloatCall(op, x, tuple(self.g.tensor(op.outputs[0]).shape[1:]), get, self._fq,
                             self.consts.__contains__, self.g))

    # ---- export -------------------------------------------------------------------------------------------------
    def trained_graph(self) -> Graph:
        """The float graph with this module's (trained) weights and biases; a weighted op without a bias gets
        one (zeros unless training moved it)."""
        import dataclasses

        from ..ir import GraphBuilder
        b = GraphBuilder()
        b.tensors = list(self.g.tensors)
        for k, op in enumerate(self.g.ops):
            if op.kind in WEIGHTED:
                wt = self.g.tensor(op.inputs[1])
                b.tensors[op.inputs[1]] = dataclasses.replace(wt, data=self.w[str(k)].detach().numpy().copy())
                bias = self.b[str(k)].detach().numpy().copy()
                if len(op.inputs) > 2 and op.inputs[2] != NO_TENSOR:
                    b.tensors[op.inputs[2]] = dataclasses.replace(self.g.tensor(op.inputs[2]), data=bias)
                    b.ops.append(op)
                else:
                    bt = b.const(f"{wt.name}_bias", bias)
                    b.ops.append(dataclasses.replace(op, inputs=(op.inputs[0], op.inputs[1], bt)))
            else:
                b.ops.append(op)
        return b.build(self.g.name, self.g.inputs, self.g.outputs, self.g.source)

    def export(self) -> tuple[Graph, QuantConfig]:
        """The float graph with this module's (trained) weights and the config of its learned scales."""
        assert self.config is not None
        cfg = QuantConfig(
            act={t: (float(np.float32(float(self._scale(t).detach()))), int(z)) for t, z in self.a_zp.items()},
            weight_bits=dict(self.config.weight_bits),
            weight_scale={k: np.abs(self.w_scale[str(k)].detach().numpy()) + 1e-12 for k in self.config.weight_scale},
            bias={k: self.b[str(k)].detach().numpy().copy() for k, op in enumerate(self.g.ops) if op.kind in WEIGHTED})
        return self.trained_graph(), cfg


def run_batches(module: GraphExecutor, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The first output of `module` on `x` (NHWC float), in batches, without gradients."""
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            outs.append(module(torch.tensor(np.asarray(x[s:s + batch], np.float32)))[0].numpy())
    return np.concatenate(outs)
