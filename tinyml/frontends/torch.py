"""Import a PyTorch `nn.Module` into a float32 `tinyml.ir.Graph` through `torch.export`.

The exported ATen graph (decomposed to core ops) is walked once.  Activations change layout exactly once, at
the boundary: 4-D values are NCHW in PyTorch and NHWC in the IR (the graph's input and output shapes are NHWC),
so convolution weights are transposed to TFLite's layouts here and nowhere else.  A 4-D value flattened for a
Linear keeps its HWC order in the IR; the Linear's weight columns are permuted instead of the activations.
BatchNorm following a convolution is folded into its weights (elsewhere it becomes a per-channel MUL and
ADD); dropout disappears in eval mode.  Anything else is refused with the module path that produced it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import TinymlError, UnsupportedOpError
from ..ir import (
    Activation,
    AxisAttrs,
    BlockAttrs,
    ConcatAttrs,
    ConvAttrs,
    DType,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    Graph,
    GraphBuilder,
    LeakyReluAttrs,
    MatMulAttrs,
    MeanAttrs,
    NoAttrs,
    OpKind,
    PadAttrs,
    Padding,
    PoolAttrs,
    ResizeAttrs,
    SliceAttrs,
    SoftmaxAttrs,
    TransposeAttrs,
)
from .passes import fuse_activations
from .torch_sequences import NCHW_TO_NHWC_AXIS, SequenceOps, Value, module_of, named

SUPPORTED = ("Conv2d (any groups, depthwise included)", "Linear", "BatchNorm2d", "ReLU",
             "ReLU6", "Hardtanh(0, 6)", "Hardswish", "Sigmoid", "Tanh", "LeakyReLU", "add/sub/mul", "torch.cat",
             "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "mean over H and W", "flatten/view/reshape",
             "Dropout", "Softmax over the last dimension", "slicing with a positive step (x[:, a:b])",
             "Upsample / interpolate (nearest with whole scale factors, bilinear)",
             "ConvTranspose2d (groups 1, dilation 1)", "PReLU", "PixelShuffle", "PixelUnshuffle",
             "torch.maximum/minimum", "permute/transpose", "bmm/matmul of 3-D tensors", "Linear over tokens",
             "LayerNorm over the last dimension", "nn.LSTM", "torch.split/chunk/unbind/stack")


def _pad_mode(in_size: int, k: int, stride: int, dil: int, pad: int) -> tuple[Padding, int, int]:
    """TFLite padding for a symmetric PyTorch padding, with the rows (or columns) padded before and after: SAME
    when identical, else VALID after an explicit pad."""
    eff = (k - 1) * dil + 1
    out = (in_size + 2 * pad - eff) // stride + 1
    if pad == 0:
        return Padding.VALID, 0, 0
    total = max(0, (out - 1) * stride + eff - in_size)
    if out == -(-in_size // stride) and total // 2 == pad:
        return Padding.SAME, pad, total - pad
    after = (out - 1) * stride + eff - in_size - pad  # rows PyTorch's padding actually reaches
    return Padding.VALID, pad, max(0, after)


class _Importer(SequenceOps):
    def __init__(self, ep: Any, name: str) -> None:
        import torch  # noqa: F401  (imported for the side effect of registering ops)
        self.ep = ep
        self.b = GraphBuilder()
        self.values: dict[str, Value] = {}
        self.consts: dict[str, np.ndarray] = {}
        self.name = name
        self.folded: set[str] = set()
        self.lstm_nodes: set[str] = set()  # LSTMs imported: their output sequence is getitem 0
        self.steps: dict[str, tuple[int, list[int]]] = {}  # an LSTM's output sequence: time axis, step outputs
        self.pieces: dict[str, list[Value]] = {}  # split / chunk / unbind: the values getitem picks
        sig = ep.graph_signature
        state = dict(ep.state_dict)
        state.update({k: v for k, v in getattr(ep, "constants", {}).items()})
        for mapping in (sig.inputs_to_parameters, sig.inputs_to_buffers,
                        getattr(sig, "inputs_to_lifted_tensor_constants", {})):
            for node_name, key in mapping.items():
                self.consts[node_name] = state[key].detach().cpu().float().numpy()

    # ---- helpers ------------------------------------------------------------------------------------------------
    def value(self, node: Any, where: Any) -> Value:
        if not hasattr(node, "name") or node.name not in self.values:
            raise UnsupportedOpError(f"{module_of(where)} uses an input tinyml cannot map ({node}); only "
                                     "activations computed from the model input are supported here")
        return self.values[node.name]

    def out(self, node: Any, shape: tuple[int, ...], perm: np.ndarray | None = None) -> Value:
        v = Value(self.b.tensor(node.name, shape), shape, perm)
        self.values[node.name] = v
        return v

    @staticmethod
    def torch_shape(node: Any) -> tuple[int, ...]:
        return tuple(int(d) for d in node.meta["val"].shape)

    def ir_shape(self, node: Any) -> tuple[int, ...]:
        s = self.torch_shape(node)
        return (s[0], s[2], s[3], s[1]) if len(s) == 4 else s

    def plain(self, v: Value, node: Any, what: str) -> None:
        if v.perm is not None:
            raise UnsupportedOpError(f"{module_of(node)}: {what} of a flattened spatial tensor is not supported "
                                     "(only Linear layers and element-wise activations may consume a flatten of a "
                                     "4-D tensor with H*W > 1)")

    # ---- conversion ---------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.ep.graph
        inputs: list[int] = []
        outputs: list[int] = []
        for node in g.nodes:
            if node.op == "placeholder":
                if node.name in self.consts:
                    continue
                v = self.out(node, self.ir_shape(node))
                inputs.append(v.index)
            elif node.op == "call_function":
                self.call(node)
            elif node.op == "output":
                for a in node.args[0]:
                    v = self.value(a, node)
                    self.plain(v, node, "returning")
                    outputs.append(v.index)
        self._prune(outputs)
        graph = self.b.build(self.name, tuple(inputs), tuple(outputs), source=f"torch:{self.name}")
        return fuse_activations(graph)

    def _prune(self, outputs: list[int]) -> None:
        """Drop ops whose outputs nothing reads (an unrolled LSTM's output sequence when only its last step is
        used)."""
        while True:
            read = set(outputs) | {i for op in self.b.ops for i in op.inputs}
            keep = [op for op in self.b.ops if any(o in read for o in op.outputs)]
            if len(keep) == len(self.b.ops):
                return
            self.b.ops = keep

    def call(self, node: Any) -> None:
        target = str(node.target)
        key = target.replace("aten.", "").rsplit(".", 1)[0] if target.startswith("aten.") else target
        if key in ("clone", "dropout", "alias", "contiguous", "detach", "_to_copy", "lift_fresh_copy"):
            src = node.args[0]
            if getattr(src, "name", None) in self.consts:  # a constant made in forward() (torch.tensor(0.5))
                self.consts[node.name] = self.consts[src.name]
            else:
                self.values[node.name] = self.value(src, node)
            return
        handler = getattr(self, f"op_{key}", None)
        if key == "<built-in function getitem>" or target == "<built-in function getitem>":
            src = node.args[0]
            if src.name in self.values and node.args[1] == 0:
                self.values[node.name] = self.values[src.name]
                return
            if src.name in self.folded:
                return
            if src.name in self.pieces:
                self.values[node.name] = self.pieces[src.name][int(node.args[1])]
                return
            if src.name in self.lstm_nodes:
                if node.users:
                    raise UnsupportedOpError(f"{module_of(node)} uses an LSTM's final state (h_n, c_n); only its "
                                             "output sequence is supported (its last step is the last h)")
                return
        if handler is None:
            raise UnsupportedOpError(
                f"{module_of(node)} computes '{target}', which tinyml cannot import. Supported: "
                f"{', '.join(SUPPORTED)}.")
        handler(node)

    def op_conv2d(self, node: Any) -> None:
        a = list(node.args) + [None] * (7 - len(node.args))
        x = self.value(a[0], node)
        self.plain(x, node, "a convolution")
        w = self.consts.get(a[1].name)
        if w is None:
            raise UnsupportedOpError(f"{module_of(node)}: convolution weights must be parameters")
        bias = self.consts[a[2].name] if a[2] is not None else np.zeros(w.shape[0], np.float32)
        stride = a[3] or [1, 1]
        padding = a[4] if a[4] is not None else [0, 0]
        dilation = a[5] or [1, 1]
        groups = a[6] or 1
        if isinstance(padding, str):
            raise UnsupportedOpError(f"{module_of(node)}: string padding '{padding}' is not supported; use "
                                     "integers")
        if len(x.shape) != 4:
            raise UnsupportedOpError(f"{module_of(node)}: only 2-D convolutions (4-D inputs) are supported")
        users = list(node.users)
        if len(users) == 1 and "batch_norm" in str(users[0].target):
            bn = users[0]
            gamma, beta, mean, var = (self.consts[bn.args[i].name] if bn.args[i] is not None else None
                                      for i in range(1, 5))
            eps = float(bn.args[-1])
            scale = (gamma if gamma is not None else 1.0) / np.sqrt(var + eps)
            w = w * scale[:, None, None, None]
            bias = (bias - mean) * scale + (beta if beta is not None else 0.0)
            self.folded.add(bn.name)
            out_node = bn
        else:
            out_node = node
        n, ih, iw, ic = x.shape
        oc, fic, kh, kw = w.shape
        modes = [_pad_mode(s, k, st, d, p) for s, k, st, d, p in
                 zip((ih, iw), (kh, kw), stride, dilation, padding, strict=True)]
        src, padding_mode = self._padded(node, x, modes)
        depthwise = groups == ic and groups > 1 and fic == 1
        y = self.out(node, self.ir_shape(node))
        self.values[out_node.name] = y
        if depthwise:
            wt = np.transpose(w, (1, 2, 3, 0))  # [1, kh, kw, oc]
            attrs = ConvAttrs(stride[0], stride[1], dilation[0], dilation[1], padding_mode, Activation.NONE,
                              depth_multiplier=oc // ic)
            kind = OpKind.DEPTHWISE_CONV_2D
        else:
            wt = np.transpose(w, (0, 2, 3, 1))  # [oc, kh, kw, ic / groups]
            attrs = ConvAttrs(stride[0], stride[1], dilation[0], dilation[1], padding_mode, Activation.NONE)
            kind = OpKind.CONV_2D
        self.b.op(kind, (src, self.b.const(f"{node.name}_weights", wt), self.b.const(f"{node.name}_bias", bias)),
                  (y.index,), attrs, name=named(node))

    def op_conv_transpose2d(self, node: Any) -> None:
        """ConvTranspose2d: TRANSPOSE_CONV with VALID padding (out[i * stride + k] += x[i] * w[k]) over the rows
        PyTorch computes and more, then a STRIDED_SLICE that drops the `padding` rows on each side (PyTorch's
        out[i * stride - padding + k] cannot be TFLite's SAME, whose padding follows from the output size)."""
        a = list(node.args) + [None] * (8 - len(node.args))
        x = self.value(a[0], node)
        self.plain(x, node, "a transposed convolution")
        w = self.consts.get(a[1].name)
        if w is None:
            raise UnsupportedOpError(f"{module_of(node)}: transposed convolution weights must be parameters")
        stride, padding, out_pad = (list(v) if v is not None else [d, d] for v, d in ((a[3], 1), (a[4], 0), (a[5], 0)))
        if (a[6] or 1) != 1 or any(d != 1 for d in (a[7] or [1, 1])) or len(x.shape) != 4:
            raise UnsupportedOpError(f"{module_of(node)}: ConvTranspose2d with groups or dilation is not supported")
        bias = self.consts[a[2].name] if a[2] is not None else np.zeros(w.shape[1], np.float32)
        n, ih, iw, _ = x.shape
        _, oc, kh, kw = w.shape
        out = self.ir_shape(node)
        full = tuple((i - 1) * s + k + max(0, op - p) for i, s, k, op, p in
                     zip((ih, iw), stride, (kh, kw), out_pad, padding))
        wt = np.ascontiguousarray(np.transpose(w, (1, 2, 3, 0)))  # [oc, kh, kw, ic]
        attrs = ConvAttrs(stride[0], stride[1], 1, 1, Padding.VALID, Activation.NONE)
        y = self.out(node, out)
        dst = y.index if full == tuple(out[1:3]) else self.b.tensor(f"{node.name}_full", (n, *full, oc))
        self.b.op(OpKind.TRANSPOSE_CONV, (x.index, self.b.const(f"{node.name}_weights", wt),
                                          self.b.const(f"{node.name}_bias", np.asarray(bias, np.float32))),
                  (dst,), attrs, name=named(node))
        if dst != y.index:
            begin, size, strides = (0, padding[0], padding[1], 0), tuple(out), (1, 1, 1, 1)
            end = tuple(b + s for b, s in zip(begin, size))
            consts = [self.b.const(f"{node.name}_{what}", np.array(v, np.int32), DType.INT32)
                      for what, v in (("begin", begin), ("end", end), ("strides", strides))]
            self.b.op(OpKind.STRIDED_SLICE, (dst, *consts), (y.index,), SliceAttrs(begin, size, strides),
                      name=f"{named(node)}_crop")

    def _padded(self, node: Any, x: Value, modes: list[tuple[Padding, int, int]]) -> tuple[int, Padding]:
        """(tensor the layer reads, its TFLite padding) for per-axis `_pad_mode` results: an explicit zero PAD
        where PyTorch's padding is not TFLite's SAME."""
        n, ih, iw, c = x.shape
        if all(m[0] is Padding.SAME for m in modes):
            return x.index, Padding.SAME
        src = x.index  # an axis that is SAME while the other is not: both padded explicitly
        if any(m[1] or m[2] for m in modes):
            padded = (n, ih + modes[0][1] + modes[0][2], iw + modes[1][1] + modes[1][2], c)
            src = self.b.tensor(f"{node.name}_pad", padded)
            self.b.op(OpKind.PAD, (x.index, self.b.const(f"{node.name}_paddings", np.array(
                [[0, 0], [modes[0][1], modes[0][2]], [modes[1][1], modes[1][2]], [0, 0]], np.int32), DType.INT32)),
                (src,), PadAttrs(((0, 0), (modes[0][1], modes[0][2]), (modes[1][1], modes[1][2]), (0, 0))),
                name=f"{node.name}_pad")
        return src, Padding.VALID

    def op__native_batch_norm_legit_no_training(self, node: Any) -> None:
        """A BatchNorm that no convolution absorbed: y = x * scale + shift per channel (MUL and ADD with
        per-channel constants)."""
        if node.name in self.folded:
            return
        x = self.value(node.args[0], node)
        self.plain(x, node, "BatchNorm")
        if len(x.shape) != 4:
            raise UnsupportedOpError(f"{module_of(node)}: BatchNorm on a {len(x.shape)}-D input is not supported")
        gamma, beta, mean, var = (self.consts[node.args[i].name] if node.args[i] is not None else None
                                  for i in range(1, 5))
        if mean is None or var is None:
            raise UnsupportedOpError(f"{module_of(node)}: BatchNorm without running statistics is not supported")
        scale = ((gamma if gamma is not None else 1.0) / np.sqrt(var + float(node.args[-1]))).astype(np.float32)
        shift = ((beta if beta is not None else 0.0) - mean * scale).astype(np.float32)
        mid = self.b.tensor(f"{node.name}_scaled", x.shape)
        self.b.op(OpKind.MUL, (x.index, self.b.const(f"{node.name}_scale", scale)), (mid,),
                  ElementwiseAttrs(Activation.NONE), name=f"{named(node)}_scale")
        y = self.out(node, x.shape)
        self.b.op(OpKind.ADD, (mid, self.b.const(f"{node.name}_shift", shift)), (y.index,),
                  ElementwiseAttrs(Activation.NONE), name=named(node))

    op_batch_norm = op__native_batch_norm_legit_no_training

    def op_linear(self, node: Any) -> None:
        x = self.value(node.args[0], node)
        w = self.consts.get(node.args[1].name)
        if w is None:
            raise UnsupportedOpError(f"{module_of(node)}: Linear weights must be parameters")
        b = self.consts[node.args[2].name] if len(node.args) > 2 and node.args[2] is not None else \
            np.zeros(w.shape[0], np.float32)
        if x.perm is not None:
            w = w[:, x.perm]
        if len(x.shape) not in (2, 3):
            raise UnsupportedOpError(f"{module_of(node)}: Linear on a {len(x.shape)}-D input is not supported "
                                     "(flatten it to [batch, features] first, or give it [batch, tokens, "
                                     "features])")
        y = self.out(node, self.ir_shape(node))
        # [batch, tokens, features]: FULLY_CONNECTED over the last axis, the token axis kept (keep_num_dims)
        self.b.op(OpKind.FULLY_CONNECTED, (x.index, self.b.const(f"{node.name}_weights", w),
                                           self.b.const(f"{node.name}_bias", b)), (y.index,),
                  FullyConnectedAttrs(Activation.NONE, keep_num_dims=len(x.shape) == 3), name=named(node))

    def op_bmm(self, node: Any) -> None:
        """bmm / matmul of two 3-D activations ([batch, n, k] x [batch, k, m]): BATCH_MATMUL."""
        a, b = (self.value(v, node) for v in node.args[:2])
        for v in (a, b):
            self.plain(v, node, "a matrix product")
            if len(v.shape) != 3:
                raise UnsupportedOpError(f"{module_of(node)}: bmm/matmul of a {len(v.shape)}-D tensor is not "
                                         "supported (3-D [batch, rows, columns] tensors are)")
        y = self.out(node, self.ir_shape(node))
        self.b.op(OpKind.BATCH_MATMUL, (a.index, b.index), (y.index,), MatMulAttrs(False, False), name=named(node))

    op_matmul = op_bmm

    def _unary(self, node: Any, kind: OpKind, attrs: Any = None) -> None:
        attrs = NoAttrs() if attrs is None else attrs
        x = self.value(node.args[0], node)
        y = self.out(node, x.shape, x.perm)
        self.b.op(kind, (x.index,), (y.index,), attrs, name=named(node))

    def op_relu(self, node: Any) -> None:
        self._unary(node, OpKind.RELU)

    def op_hardtanh(self, node: Any) -> None:
        lo, hi = (list(node.args[1:]) + [-1.0, 1.0])[:2]
        if (float(lo), float(hi)) != (0.0, 6.0):
            raise UnsupportedOpError(f"{module_of(node)}: Hardtanh({lo}, {hi}) is not supported (ReLU6 is)")
        self._unary(node, OpKind.RELU6)

    def op_relu6(self, node: Any) -> None:
        self._unary(node, OpKind.RELU6)

    def op_clamp(self, node: Any) -> None:
        self.op_hardtanh(node)

    def op_hardswish(self, node: Any) -> None:
        self._unary(node, OpKind.HARD_SWISH)

    def op_sigmoid(self, node: Any) -> None:
        self._unary(node, OpKind.LOGISTIC)

    def op_tanh(self, node: Any) -> None:
        self._unary(node, OpKind.TANH)

    def op_leaky_relu(self, node: Any) -> None:
        alpha = float(node.args[1]) if len(node.args) > 1 else 0.01
        self._unary(node, OpKind.LEAKY_RELU, LeakyReluAttrs(alpha))

    def _binary(self, node: Any, kind: OpKind) -> None:
        if node.kwargs.get("alpha", 1) != 1 or (len(node.args) > 2 and node.args[2] != 1):
            raise UnsupportedOpError(f"{module_of(node)}: add/sub with alpha != 1 is not supported")
        ins = []
        for k, a in enumerate(node.args[:2]):
            if isinstance(a, (int, float)):
                ins.append(self.b.const(f"{node.name}_c{k}", np.array([float(a)], np.float32)))
            elif a.name in self.consts:
                c = self.consts[a.name]
                ins.append(self.b.const(f"{node.name}_c{k}", np.transpose(c, (0, 2, 3, 1)) if c.ndim == 4 else c))
            else:
                v = self.value(a, node)
                self.plain(v, node, "arithmetic")
                ins.append(v.index)
        y = self.out(node, self.ir_shape(node))
        attrs = NoAttrs() if kind in (OpKind.MAXIMUM, OpKind.MINIMUM) else ElementwiseAttrs(Activation.NONE)
        self.b.op(kind, tuple(ins), (y.index,), attrs, name=named(node))

    def op_add(self, node: Any) -> None:
        self._binary(node, OpKind.ADD)

    def op_sub(self, node: Any) -> None:
        self._binary(node, OpKind.SUB)

    def op_mul(self, node: Any) -> None:
        self._binary(node, OpKind.MUL)

    def _permute(self, node: Any, dims: list[int]) -> None:
        """permute / transpose: TRANSPOSE. A 4-D value is NHWC in the IR, so PyTorch's permutation of NCHW axes is
        carried over to the IR's axes (the output NHWC again); other ranks keep their axes."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "a permute")
        rank = len(x.shape)
        dims = [d + rank if d < 0 else d for d in dims]
        if rank == 4:  # IR output axis j is PyTorch output axis t[j], which is input axis dims[t[j]]
            t = (0, 2, 3, 1)
            perm = [NCHW_TO_NHWC_AXIS[dims[t[j]]] for j in range(4)]
        else:
            perm = dims
        y = self.out(node, self.ir_shape(node))
        if perm == list(range(rank)):
            self.values[node.name] = x
            return
        self.b.op(OpKind.TRANSPOSE, (x.index, self.b.const(f"{node.name}_perm", np.array(perm, np.int32),
                                                           DType.INT32)), (y.index,), TransposeAttrs(tuple(perm)),
                  name=named(node))

    def op_permute(self, node: Any) -> None:
        self._permute(node, [int(d) for d in node.args[1]])

    def op_transpose(self, node: Any) -> None:
        rank = len(self.value(node.args[0], node).shape)
        dims = list(range(rank))
        a, b = (int(d) + rank if int(d) < 0 else int(d) for d in node.args[1:3])
        dims[a], dims[b] = dims[b], dims[a]
        self._permute(node, dims)

    def op_maximum(self, node: Any) -> None:
        self._binary(node, OpKind.MAXIMUM)

    def op_minimum(self, node: Any) -> None:
        self._binary(node, OpKind.MINIMUM)

    def op_max(self, node: Any) -> None:  # torch.max(a, b): aten.max.other; a reduction is refused
        if not str(node.target).endswith(".other"):
            raise UnsupportedOpError(f"{module_of(node)}: torch.max/min as a reduction is not supported (two "
                                     "tensors are: MAXIMUM/MINIMUM)")
        self._binary(node, OpKind.MAXIMUM if "max" in str(node.target) else OpKind.MINIMUM)

    op_min = op_max

    def op_prelu(self, node: Any) -> None:
        """nn.PReLU: PRELU with alpha over the channels (NHWC's last axis) or one alpha for all."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "PReLU")
        w = self.consts.get(node.args[1].name)
        if w is None:
            raise UnsupportedOpError(f"{module_of(node)}: the PReLU slope must be a parameter")
        w = np.asarray(w, np.float32).reshape(-1)
        shape = (1,) * (len(x.shape) - 1) + (w.size,) if w.size > 1 else (1,)
        y = self.out(node, self.ir_shape(node))
        self.b.op(OpKind.PRELU, (x.index, self.b.const(f"{node.name}_alpha", w.reshape(shape))), (y.index,),
                  NoAttrs(), name=named(node))

    def _pixel(self, node: Any, shuffle: bool) -> None:
        """nn.PixelShuffle / PixelUnshuffle: DEPTH_TO_SPACE / SPACE_TO_DEPTH, whose channel order differs from
        PyTorch's: PyTorch's channel c * r^2 + k (k = i * r + j, the position inside the r x r block) is TFLite's
        channel k * C + c. A GATHER over the channels reorders them (before DEPTH_TO_SPACE, after SPACE_TO_DEPTH);
        none where the orders agree (one channel per block position, or r = 1)."""
        what = "PixelShuffle" if shuffle else "PixelUnshuffle"
        x = self.value(node.args[0], node)
        self.plain(x, node, what)
        r = int(node.args[1])
        if len(x.shape) != 4:
            raise UnsupportedOpError(f"{module_of(node)}: {what} of a {len(x.shape)}-D tensor is not supported")
        y = self.out(node, self.ir_shape(node))
        c = (x.shape[3] // (r * r)) if shuffle else x.shape[3]  # channels per block position
        # TFLite channel k * c + q holds PyTorch channel q * r^2 + k
        tfl = np.array([q * r * r + k for k in range(r * r) for q in range(c)], np.int32)
        perm = tfl if shuffle else np.argsort(tfl).astype(np.int32)
        identity = bool((perm == np.arange(perm.size)).all())
        kind = OpKind.DEPTH_TO_SPACE if shuffle else OpKind.SPACE_TO_DEPTH
        src = x.index
        if shuffle and not identity:
            src = self.b.tensor(f"{node.name}_order", x.shape)
            self.b.op(OpKind.GATHER, (x.index, self.b.const(f"{node.name}_perm", perm, DType.INT32)), (src,),
                      AxisAttrs(3), name=f"{named(node)}_order")
        dst = y.index if shuffle or identity else self.b.tensor(f"{node.name}_blocks", y.shape)
        self.b.op(kind, (src,), (dst,), BlockAttrs(r), name=named(node))
        if not shuffle and not identity:
            self.b.op(OpKind.GATHER, (dst, self.b.const(f"{node.name}_perm", perm, DType.INT32)), (y.index,),
                      AxisAttrs(3), name=f"{named(node)}_order")

    def op_pixel_shuffle(self, node: Any) -> None:
        self._pixel(node, True)

    def op_pixel_unshuffle(self, node: Any) -> None:
        self._pixel(node, False)

    def op_cat(self, node: Any) -> None:
        vals = [self.value(a, node) for a in node.args[0]]
        rank = len(vals[0].shape)
        dim = int(node.args[1]) if len(node.args) > 1 else 0
        dim = dim + rank if dim < 0 else dim
        perm = None
        if rank == 2 and dim == 1 and any(v.perm is not None for v in vals):  # features of flattened tensors
            parts, off = [], 0
            for v in vals:
                parts.append((v.perm if v.perm is not None else np.arange(v.shape[1])) + off)
                off += v.shape[1]
            perm = np.concatenate(parts)
        else:
            for v in vals:
                self.plain(v, node, "concatenation")
        axis = NCHW_TO_NHWC_AXIS[dim] if rank == 4 else dim
        y = self.out(node, self.ir_shape(node), perm)
        self.b.op(OpKind.CONCATENATION, tuple(v.index for v in vals), (y.index,),
                  ConcatAttrs(axis, Activation.NONE), name=named(node))

    def _pool(self, node: Any, kind: OpKind, k: list[int], stride: list[int], pad: list[int],
              count_pad: bool = False) -> None:
        """Pooling. Symmetric padding that is TFLite's SAME maps to SAME (TFLite, like PyTorch's max pooling and
        its count_include_pad=False averages, ignores padded cells); an average that counts padded cells as
        zeros becomes PAD + VALID; other padded max pooling has no TFLite equivalent."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "pooling")
        k = list(k) * (2 // len(k)) if len(k) == 1 else list(k)
        stride = (list(stride) * (2 // len(stride)) if len(stride) == 1 else list(stride)) if stride else k
        pad = list(pad) * (2 // len(pad)) if len(pad) == 1 else list(pad)
        modes = [_pad_mode(s, kk, st, 1, p) for s, kk, st, p in zip(x.shape[1:3], k, stride, pad, strict=True)]
        src, mode = x.index, Padding.VALID
        if any(pad):
            if count_pad and kind is OpKind.AVERAGE_POOL_2D:  # zeros counted: an explicit zero PAD, VALID
                reach = [max(0, ((n + 2 * p - kk) // st) * st + kk - n - p)  # rows the windows reach after
                         for n, kk, st, p in zip(x.shape[1:3], k, stride, pad, strict=True)]
                src, mode = self._padded(node, x, [(Padding.VALID, p, r) for p, r in zip(pad, reach, strict=True)])
            elif all(m[0] is Padding.SAME for m in modes):
                mode = Padding.SAME
            else:
                raise UnsupportedOpError(
                    f"{module_of(node)}: this pooling padding ({pad} with kernel {k} and stride {stride} on a "
                    f"{x.shape[1]}x{x.shape[2]} input) is not TFLite's SAME padding, and padded cells would count "
                    "differently; use padding that matches SAME, an average with count_include_pad=True, or pad "
                    "with a convolution")
        y = self.out(node, self.ir_shape(node))
        self.b.op(kind, (src,), (y.index,), PoolAttrs(k[0], k[1], stride[0], stride[1], mode, Activation.NONE),
                  name=named(node))

    def op_max_pool2d(self, node: Any) -> None:
        a = list(node.args) + [None] * (6 - len(node.args))
        if (a[4] not in (None, 1, [1, 1], [1])) or a[5]:
            raise UnsupportedOpError(f"{module_of(node)}: max pooling with dilation or ceil_mode is not supported")
        self._pool(node, OpKind.MAX_POOL_2D, a[1], a[2] or [], a[3] or [0])

    def op_max_pool2d_with_indices(self, node: Any) -> None:
        self.op_max_pool2d(node)

    def op_avg_pool2d(self, node: Any) -> None:
        a = list(node.args) + [None] * (7 - len(node.args))
        if a[4] or a[6] is not None:
            raise UnsupportedOpError(f"{module_of(node)}: average pooling with ceil_mode or divisor_override is "
                                     "not supported")
        self._pool(node, OpKind.AVERAGE_POOL_2D, a[1], a[2] or [], a[3] or [0],
                   count_pad=a[5] is None or bool(a[5]))

    def op__adaptive_avg_pool2d(self, node: Any) -> None:
        x = self.value(node.args[0], node)
        oh, ow = (list(node.args[1]) * 2)[:2] if len(node.args[1]) == 1 else node.args[1]
        _, ih, iw, _ = x.shape
        if (oh, ow) == (1, 1):
            y = self.out(node, self.ir_shape(node))
            self.b.op(OpKind.MEAN, (x.index, self.b.const(f"{node.name}_axes", np.array([1, 2], np.int32),
                                                          DType.INT32)), (y.index,), MeanAttrs((1, 2), True),
                      name=named(node))
            return
        if ih % oh or iw % ow:
            raise UnsupportedOpError(f"{module_of(node)}: adaptive average pooling {ih}x{iw} -> {oh}x{ow} needs "
                                     "the input to be a multiple of the output size")
        self._pool(node, OpKind.AVERAGE_POOL_2D, [ih // oh, iw // ow], [ih // oh, iw // ow], [0])

    op_adaptive_avg_pool2d = op__adaptive_avg_pool2d

    def op_mean(self, node: Any) -> None:
        x = self.value(node.args[0], node)
        dims = sorted(int(d) % 4 for d in node.args[1]) if len(x.shape) == 4 else None
        keep = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
        if dims != [2, 3]:
            raise UnsupportedOpError(f"{module_of(node)}: mean over {node.args[1]} is not supported (the mean "
                                     "over H and W of a 4-D tensor is)")
        y = self.out(node, self.ir_shape(node) if keep else self.ir_shape(node))
        self.b.op(OpKind.MEAN, (x.index, self.b.const(f"{node.name}_axes", np.array([1, 2], np.int32),
                                                      DType.INT32)), (y.index,), MeanAttrs((1, 2), keep),
                  name=named(node))
        if not keep:
            self.values[node.name] = Value(y.index, y.shape)

    def op_slice(self, node: Any) -> None:
        """x[..., start:end:step] along one dimension: a STRIDED_SLICE (NCHW dimensions mapped to NHWC)."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "slicing")
        a = list(node.args) + [None] * (5 - len(node.args))
        rank = len(x.shape)
        dim = int(a[1] or 0) % rank
        step = int(a[4] or 1)
        axis = NCHW_TO_NHWC_AXIS[dim] if rank == 4 else dim
        n = x.shape[axis]
        start = int(a[2]) if a[2] is not None else 0
        end = int(a[3]) if a[3] is not None else n
        start, end = (min(max(v + n if v < 0 else v, 0), n) for v in (start, end))
        if step < 1 or axis == 0:
            raise UnsupportedOpError(f"{module_of(node)}: slicing the batch dimension or with step {step} is not "
                                     "supported")
        size = list(x.shape)
        size[axis] = max(0, -(-(end - start) // step))
        begin, stop, strides = [0] * rank, list(x.shape), [1] * rank
        begin[axis], stop[axis], strides[axis] = start, end, step
        y = self.out(node, tuple(size))
        consts = [self.b.const(f"{node.name}_{what}", np.array(v, np.int32), DType.INT32)
                  for what, v in (("begin", begin), ("end", stop), ("strides", strides))]
        self.b.op(OpKind.STRIDED_SLICE, (x.index, *consts), (y.index,),
                  SliceAttrs(tuple(begin), tuple(size), tuple(strides)), name=named(node))

    def _reshape(self, node: Any) -> None:
        x = self.value(node.args[0], node)
        out_t = self.torch_shape(node)
        if x.perm is not None:
            raise UnsupportedOpError(f"{module_of(node)}: reshaping a flattened spatial tensor again is not "
                                     "supported")
        perm = None
        if len(x.shape) == 4 and len(out_t) == 4:
            in_t = (x.shape[0], x.shape[3], x.shape[1], x.shape[2])
            if in_t != out_t:
                raise UnsupportedOpError(f"{module_of(node)}: a 4-D reshape {list(in_t)} -> {list(out_t)} is not "
                                         "supported")
            self.values[node.name] = x
            return
        if len(x.shape) == 4:
            n, h, w, c = x.shape
            if len(out_t) != 2 or out_t[0] != n:
                raise UnsupportedOpError(f"{module_of(node)}: reshaping a 4-D tensor to {list(out_t)} is not "
                                         "supported (flattening to [batch, C*H*W] is)")
            if h * w > 1:
                perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        elif len(out_t) == 4:
            raise UnsupportedOpError(f"{module_of(node)}: reshaping to a 4-D tensor is not supported")
        y = self.out(node, out_t, perm)
        self.b.op(OpKind.RESHAPE, (x.index, self.b.const(f"{node.name}_shape", np.array(out_t, np.int32),
                                                         DType.INT32)), (y.index,), NoAttrs(), name=named(node))

    op_view = op_reshape = op__unsafe_view = op_flatten = op_squeeze = op_unsqueeze = _reshape

    def op__softmax(self, node: Any) -> None:
        x = self.value(node.args[0], node)
        dim = int(node.args[1])
        if dim not in (-1, len(x.shape) - 1) or len(x.shape) == 4:
            raise UnsupportedOpError(f"{module_of(node)}: softmax is supported over the last dimension of a "
                                     "2-D tensor only")
        self._unary(node, OpKind.SOFTMAX, SoftmaxAttrs(1.0))

    op_softmax = op__softmax

    def _resize(self, node: Any, kind: OpKind, align_corners: bool) -> None:
        """nn.Upsample / F.interpolate: RESIZE_NEAREST_NEIGHBOR (PyTorch's floor(dst * in / out), TFLite's rule
        without half-pixel centers, taken for whole scale factors only: elsewhere PyTorch computes the ratio
        differently) or RESIZE_BILINEAR (align_corners=False is TFLite's half-pixel centers)."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "resizing")
        y_shape = self.ir_shape(node)
        (_, ih, iw, _), (_, oh, ow, _) = x.shape, y_shape
        if kind is OpKind.RESIZE_NEAREST_NEIGHBOR and (oh % ih or ow % iw):
            raise UnsupportedOpError(f"{module_of(node)}: nearest upsampling {ih}x{iw} -> {oh}x{ow} is supported "
                                     "for whole scale factors only")
        y = self.out(node, y_shape)
        size = self.b.const(f"{node.name}_size", np.array([oh, ow], np.int32), DType.INT32)
        self.b.op(kind, (x.index, size), (y.index,),
                  ResizeAttrs(align_corners, kind is OpKind.RESIZE_BILINEAR and not align_corners), name=named(node))

    def op_upsample_nearest2d(self, node: Any) -> None:
        self._resize(node, OpKind.RESIZE_NEAREST_NEIGHBOR, False)

    def op_upsample_bilinear2d(self, node: Any) -> None:
        align = node.args[2] if len(node.args) > 2 else node.kwargs.get("align_corners", False)
        self._resize(node, OpKind.RESIZE_BILINEAR, bool(align))


def from_torch(module: Any, example_input: Any, name: str | None = None) -> Graph:
    """A float32 IR graph of `module` (switched to eval mode) traced with `torch.export` on `example_input`
    (NCHW for images).  The IR input and output are NHWC; quantize it with `tinyml.quantize`."""
    try:
        import torch
    except ImportError:
        raise TinymlError("from_torch needs PyTorch: pip install 'tinyml[torch]' (torch==2.13.0, CPU)") from None
    if not isinstance(module, torch.nn.Module) and not hasattr(module, "graph_signature"):
        raise TinymlError(f"from_torch expects a torch.nn.Module or an ExportedProgram, got {type(module).__name__}")
    if hasattr(module, "graph_signature"):
        ep = module
    else:
        module = module.eval()
        args = example_input if isinstance(example_input, tuple) else (example_input,)
        try:
            ep = torch.export.export(module, args)
        except Exception as e:
            raise TinymlError(f"torch.export could not trace {type(module).__name__}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}. Data-dependent control flow and "
                              "dynamic shapes are not supported.") from None
    label = name or ("exported" if hasattr(module, "graph_signature") else type(module).__name__)
    return _Importer(ep.run_decompositions({}), label).run()
