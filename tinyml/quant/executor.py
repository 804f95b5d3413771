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
import torch.nn.functional as F
from torch import nn

from ..ir import NO_TENSOR, Activation, Graph, OpKind, Padding
from .config import FIXED_OUTPUT, SAME_AS_INPUT, WEIGHTED, QuantConfig, range16


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    return (torch.round(v) - v).detach() + v


def fake_quant(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor | float, lo: int, hi: int) -> torch.Tensor:
    return (torch.clamp(_round_ste(x / scale) + zp, lo, hi) - zp) * scale


def _same_pads(size: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (k - 1) * dil + 1 - size)
    return total // 2, total - total // 2


def _act(x: torch.Tensor, act: Activation) -> torch.Tensor:
    if act is Activation.RELU:
        return F.relu(x)
    if act is Activation.RELU6:
        return torch.clamp(x, 0.0, 6.0)
    if act is Activation.RELU_N1_TO_1:
        return torch.clamp(x, -1.0, 1.0)
    return x


def weighted(op, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,  # noqa: ANN001
             out_hw: tuple[int, ...] = ()) -> torch.Tensor:
    """CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV (output height and width `out_hw`) or FULLY_CONNECTED of NHWC
    `x` with IR-layout weights, before activation."""
    if op.kind is OpKind.FULLY_CONNECTED:
        if op.attrs.keep_num_dims:
            return F.linear(x, w, b)
        return F.linear(x.reshape(x.shape[0], -1) if x.dim() != 2 else x, w, b)
    a = op.attrs
    if op.kind is OpKind.TRANSPOSE_CONV:  # TFLM: out[i * stride - pad + k] += x[i] * w[k], pad from the output size
        full = F.conv_transpose2d(x.permute(0, 3, 1, 2), w.permute(3, 0, 1, 2), None, (a.stride_h, a.stride_w))
        pads = [(_same_pads(n, k, s, 1)[0] if a.padding is Padding.SAME else 0)
                for n, k, s in zip(out_hw, w.shape[1:3], (a.stride_h, a.stride_w))]
        full = F.pad(full, (0, max(0, pads[1] + out_hw[1] - full.shape[3]),
                            0, max(0, pads[0] + out_hw[0] - full.shape[2])))
        y = full[:, :, pads[0]:pads[0] + out_hw[0], pads[1]:pads[1] + out_hw[1]]
        return (y if b is None else y + b.reshape(1, -1, 1, 1)).permute(0, 2, 3, 1)
    xc = x.permute(0, 3, 1, 2)
    if op.kind is OpKind.DEPTHWISE_CONV_2D:
        wc, groups = w.permute(3, 0, 1, 2), x.shape[3]
    else:
        wc, groups = w.permute(0, 3, 1, 2), x.shape[3] // w.shape[3]
    if a.padding is Padding.SAME:
        ph = _same_pads(xc.shape[2], wc.shape[2], a.stride_h, a.dilation_h)
        pw = _same_pads(xc.shape[3], wc.shape[3], a.stride_w, a.dilation_w)
        xc = F.pad(xc, (pw[0], pw[1], ph[0], ph[1]))
    y = F.conv2d(xc, wc, b, (a.stride_h, a.stride_w), 0, (a.dilation_h, a.dilation_w), groups)
    return y.permute(0, 2, 3, 1)


def _pool(x: torch.Tensor, a, is_max: bool) -> torch.Tensor:  # noqa: ANN001
    """AVERAGE_POOL_2D (padding taps not counted, as TFLite) and MAX_POOL_2D on NHWC, with the fused activation."""
    xc = x.permute(0, 3, 1, 2)
    ph = _same_pads(xc.shape[2], a.filter_h, a.stride_h, 1) if a.padding is Padding.SAME else (0, 0)
    pw = _same_pads(xc.shape[3], a.filter_w, a.stride_w, 1) if a.padding is Padding.SAME else (0, 0)
    k_, s_ = (a.filter_h, a.filter_w), (a.stride_h, a.stride_w)
    if is_max:
        y = F.max_pool2d(F.pad(xc, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf")), k_, s_)
    else:
        total = F.avg_pool2d(F.pad(xc, (pw[0], pw[1], ph[0], ph[1])), k_, s_)
        ones = F.pad(torch.ones_like(xc[:1, :1]), (pw[0], pw[1], ph[0], ph[1]))
        y = total / F.avg_pool2d(ones, k_, s_)
    return _act(y.permute(0, 2, 3, 1), a.activation)


def _pad(x: torch.Tensor, a) -> torch.Tensor:  # noqa: ANN001
    pads: list[int] = []
    for before, after in reversed(a.paddings):
        pads += [before, after]
    return F.pad(x, pads)


def _depth_to_space(x: torch.Tensor, a) -> torch.Tensor:  # noqa: ANN001
    """NHWC: out[h * r + i, w * r + j, c] = in[h, w, (i * r + j) * C + c]."""
    r = a.block_size
    n, h, w, c = x.shape
    return x.reshape(n, h, w, r, r, c // (r * r)).permute(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, -1)


def _space_to_depth(x: torch.Tensor, a) -> torch.Tensor:  # noqa: ANN001
    r = a.block_size
    n, h, w, c = x.shape
    return x.reshape(n, h // r, r, w // r, r, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // r, w // r, -1)


def _strided_slice(x: torch.Tensor, a) -> torch.Tensor:  # noqa: ANN001
    """The slice of every dimension but the batch."""
    for d, (b0, n, s) in enumerate(zip(a.begin, a.size, a.strides)):
        if d > 0 and (b0, n, s) != (0, x.shape[d], 1):
            x = x.index_select(d, torch.arange(b0, b0 + n * s, s) if s > 0 else
                               torch.tensor([b0 + i * s for i in range(n)], dtype=torch.long))
    return x


def _resize(x: torch.Tensor, a, size: tuple, bilinear: bool) -> torch.Tensor:  # noqa: ANN001
    xc = x.permute(0, 3, 1, 2)
    if bilinear:
        y = F.interpolate(xc, size=size, mode="bilinear", align_corners=a.align_corners)
    else:
        y = F.interpolate(xc, size=size, mode="nearest")
    return y.permute(0, 2, 3, 1)


# the float execution of the operators that read one input: (input, attributes) -> output
_ONE_INPUT = {
    OpKind.AVERAGE_POOL_2D: lambda x, a: _pool(x, a, False), OpKind.MAX_POOL_2D: lambda x, a: _pool(x, a, True),
    OpKind.MEAN: lambda x, a: x.mean(dim=a.axes, keepdim=a.keep_dims),
    OpKind.SOFTMAX: lambda x, a: torch.softmax(x * a.beta, dim=-1), OpKind.LOGISTIC: lambda x, a: torch.sigmoid(x),
    OpKind.TANH: lambda x, a: torch.tanh(x), OpKind.HARD_SWISH: lambda x, a: F.hardswish(x),
    OpKind.LEAKY_RELU: lambda x, a: F.leaky_relu(x, a.alpha), OpKind.RELU: lambda x, a: F.relu(x),
    OpKind.RELU6: lambda x, a: torch.clamp(x, 0.0, 6.0), OpKind.PAD: _pad, OpKind.DEPTH_TO_SPACE: _depth_to_space,
    OpKind.SPACE_TO_DEPTH: _space_to_depth, OpKind.RSQRT: lambda x, a: torch.rsqrt(x),
    OpKind.TRANSPOSE: lambda x, a: x.permute(*a.perm), OpKind.QUANTIZE: lambda x, a: x,
    OpKind.DEQUANTIZE: lambda x, a: x,
}


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
        kind, a = op.kind, op.attrs
        x = get(op.inputs[0])
        if kind in WEIGHTED:
            w, b = self._weights(k)
            if self.trace is not None:
                self.trace[-(k + 1)] = x  # layer input, for bias correction
            return _act(weighted(op, x, w, b, tuple(self.g.tensor(op.outputs[0]).shape[1:3])), a.activation)
        one = _ONE_INPUT.get(kind)
        if one is not None:
            return one(x, a)
        if kind in (OpKind.ADD, OpKind.SUB, OpKind.MUL, OpKind.MAXIMUM, OpKind.MINIMUM):
            return self._binary(op, x, get)
        out_shape = tuple(self.g.tensor(op.outputs[0]).shape[1:])
        if kind is OpKind.RESHAPE:
            return x.reshape((x.shape[0],) + out_shape)
        if kind is OpKind.CONCATENATION:
            return torch.cat([self._fq(i, get(i)) if self.config is not None else get(i) for i in op.inputs],
                             dim=a.axis)
        if kind is OpKind.STRIDED_SLICE:
            return _strided_slice(x, a).reshape((x.shape[0],) + out_shape)
        if kind is OpKind.PRELU:
            alpha = get(op.inputs[1])
            if op.inputs[1] in self.consts and self.config is not None:
                alpha = self._fq(op.inputs[1], alpha)
            return torch.where(x >= 0, x, alpha * x)
        if kind in (OpKind.RESIZE_NEAREST_NEIGHBOR, OpKind.RESIZE_BILINEAR):
            return _resize(x, a, out_shape[:2], kind is OpKind.RESIZE_BILINEAR)
        if kind is OpKind.SQUARED_DIFFERENCE:
            return (x - get(op.inputs[1])) ** 2
        if kind is OpKind.BATCH_MATMUL:
            y = get(op.inputs[1])
            return torch.matmul(x.transpose(-1, -2) if a.adj_x else x, y.transpose(-1, -2) if a.adj_y else y)
        if kind is OpKind.GATHER:
            idx = torch.as_tensor(np.asarray(self.g.tensor(op.inputs[1]).data, np.int64))
            return x.index_select(a.axis, idx.reshape(-1)).reshape((x.shape[0],) + out_shape)
        raise NotImplementedError(kind)

    def _binary(self, op, x: torch.Tensor, get) -> torch.Tensor:  # noqa: ANN001
        """ADD, SUB, MUL (with their fused activation), MAXIMUM, MINIMUM; a constant operand fake-quantized."""
        kind = op.kind
        c = get(op.inputs[1])
        if op.inputs[1] in self.consts:
            c = self._fq(op.inputs[1], c)
        if kind is OpKind.MAXIMUM:
            return torch.maximum(x, c)
        if kind is OpKind.MINIMUM:
            return torch.minimum(x, c)
        y = x + c if kind is OpKind.ADD else x - c if kind is OpKind.SUB else x * c
        return _act(y, op.attrs.activation)

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
