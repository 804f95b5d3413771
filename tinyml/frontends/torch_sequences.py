"""The PyTorch importer's operators over sequences and token axes (a base class of tinyml.frontends.torch's
importer): select, split, chunk, unbind, stack, nn.LSTM (unrolled over time) and LayerNorm; and the values and
names all of the importer's operators share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import (
    NO_TENSOR,
    Activation,
    ConcatAttrs,
    DType,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    GraphBuilder,
    MeanAttrs,
    NoAttrs,
    OpKind,
    SliceAttrs,
)

NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


@dataclass
class Value:
    index: int                 # IR tensor
    shape: tuple[int, ...]     # IR shape (NHWC for 4-D)
    perm: np.ndarray | None = None  # 2-D value holding flattened C,H,W data in H,W,C order: IR feature i is
    #                                  PyTorch feature perm[i]


def module_of(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return f"the expression '{node.name}' in forward()"
    path, cls = list(stack.values())[-1]
    cls_name = getattr(cls, "__name__", str(cls)).split(".")[-1]
    return f"module '{path or '<root>'}' ({cls_name})"


def named(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return (list(stack.values())[-1][0] if stack else "") or node.name


class SequenceOps:
    """Operators of the PyTorch importer over sequences; the importer (tinyml.frontends.torch._Importer)
    provides `b` (the GraphBuilder), `values`, `consts`, `pieces`, `steps`, `lstm_nodes`, `value`, `out`,
    `torch_shape` and `ir_shape`."""
    b: GraphBuilder
    values: dict[str, Value]
    consts: dict[str, np.ndarray]
    pieces: dict[str, list[Value]]
    steps: dict[str, tuple[int, list[int]]]
    lstm_nodes: set[str]

    def _emit(self, node: Any, kind: OpKind, ins: tuple[int, ...], shape: tuple[int, ...], attrs: Any, tag: str,
              out: int | None = None) -> int:
        """One op of a module spelled as several: its output a new tensor named after the node and `tag` (or
        `out`)."""
        t = self.b.tensor(f"{node.name}_{tag}", shape) if out is None else out
        self.b.op(kind, ins, (t,), attrs, name=f"{named(node)}_{tag}")
        return t

    def _take(self, node: Any, x: Value, axis: int, index: int, tag: str) -> int:
        """Element `index` along `axis` of a 2-D or 3-D value, that axis dropped: STRIDED_SLICE + RESHAPE."""
        rank = len(x.shape)
        begin, size = [0] * rank, list(x.shape)
        begin[axis], size[axis] = index, 1
        consts = [self.b.const(f"{node.name}_{tag}_{what}", np.array(v, np.int32), DType.INT32)
                  for what, v in (("begin", begin), ("end", [b + s for b, s in zip(begin, size)]),
                                  ("strides", [1] * rank))]
        s = self._emit(node, OpKind.STRIDED_SLICE, (x.index, *consts), tuple(size),
                       SliceAttrs(tuple(begin), tuple(size), tuple([1] * rank)), tag)
        shape = tuple(d for k, d in enumerate(x.shape) if k != axis)
        return self._emit(node, OpKind.RESHAPE, (s, self.b.const(f"{node.name}_{tag}_shape",
                                                                np.array(shape, np.int32), DType.INT32)),
                          shape, NoAttrs(), f"{tag}_r")

    def op_select(self, node: Any) -> None:
        """x[:, i] of a 2-D or 3-D value (e.g. an LSTM's last time step): STRIDED_SLICE + RESHAPE."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "indexing")
        rank = len(x.shape)
        dim, index = int(node.args[1]) % rank, int(node.args[2])
        if rank not in (2, 3) or dim == 0:
            raise UnsupportedOpError(f"{module_of(node)}: indexing dimension {dim} of a {rank}-D tensor is not "
                                     "supported (a non-batch dimension of a 2-D or 3-D tensor is)")
        index = index + x.shape[dim] if index < 0 else index
        src = node.args[0]
        if src.op == "call_function" and "getitem" in str(src.target) and src.args[0].name in self.steps:
            taxis, hs = self.steps[src.args[0].name]
            if dim == taxis:  # one step of an unrolled LSTM's output: that step's h itself
                self.values[node.name] = Value(hs[index], self.b.tensors[hs[index]].shape)
                return
        t = self._take(node, x, dim, index, "take")
        self.values[node.name] = Value(t, self.b.tensors[t].shape)

    def _axis(self, node: Any, x: Value, dim: int) -> int:
        """The IR axis of PyTorch dimension `dim` of value `x` (NCHW -> NHWC for 4-D); never the batch."""
        rank = len(x.shape)
        dim = dim % rank
        if dim == 0:
            raise UnsupportedOpError(f"{module_of(node)}: splitting or stacking along the batch dimension is not "
                                     "supported")
        return NCHW_TO_NHWC_AXIS[dim] if rank == 4 else dim

    def _split(self, node: Any, sizes: list[int]) -> None:
        """Pieces of consecutive sizes along one dimension: a STRIDED_SLICE each (getitem picks them)."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "a split")
        axis = self._axis(node, x, int(node.args[2]) if len(node.args) > 2 else 0)
        rank, start, pieces = len(x.shape), 0, []
        for k, n in enumerate(sizes):
            begin, size = [0] * rank, list(x.shape)
            begin[axis], size[axis] = start, n
            consts = [self.b.const(f"{node.name}_{k}_{what}", np.array(v, np.int32), DType.INT32)
                      for what, v in (("begin", begin), ("end", [b + s for b, s in zip(begin, size)]),
                                      ("strides", [1] * rank))]
            t = self._emit(node, OpKind.STRIDED_SLICE, (x.index, *consts), tuple(size),
                           SliceAttrs(tuple(begin), tuple(size), tuple([1] * rank)), f"piece{k}")
            pieces.append(Value(t, tuple(size)))
            start += n
        self.pieces[node.name] = pieces

    def op_split_with_sizes(self, node: Any) -> None:
        self._split(node, [int(n) for n in node.args[1]])

    def op_split(self, node: Any) -> None:  # split.Tensor: pieces of split_size, the last one shorter
        x = self.value(node.args[0], node)
        n = x.shape[self._axis(node, x, int(node.args[2]) if len(node.args) > 2 else 0)]
        step = int(node.args[1])
        self._split(node, [min(step, n - s) for s in range(0, n, step)])

    def op_unbind(self, node: Any) -> None:
        """unbind of a 2-D or 3-D value: each element along the dimension, the dimension dropped."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "unbind")
        axis = self._axis(node, x, int(node.args[1]) if len(node.args) > 1 else 0)
        if len(x.shape) not in (2, 3):
            raise UnsupportedOpError(f"{module_of(node)}: unbind of a {len(x.shape)}-D tensor is not supported "
                                     "(of a 2-D or 3-D tensor is)")
        ts = [self._take(node, x, axis, k, f"item{k}") for k in range(x.shape[axis])]
        self.pieces[node.name] = [Value(t, self.b.tensors[t].shape) for t in ts]

    def op_stack(self, node: Any) -> None:
        """stack of 1-D or 2-D values along a new dimension: a RESHAPE each (the new dimension of size 1), then
        CONCATENATION."""
        vals = [self.value(a, node) for a in node.args[0]]
        for v in vals:
            self.plain(v, node, "stack")
        rank = len(vals[0].shape) + 1
        dim = (int(node.args[1]) if len(node.args) > 1 else 0) % rank
        if rank > 3 or dim == 0:
            raise UnsupportedOpError(f"{module_of(node)}: stacking {rank - 1}-D tensors along dimension {dim} is "
                                     "not supported (1-D or 2-D tensors along a non-batch dimension are)")
        parts = []
        for k, v in enumerate(vals):
            shape = v.shape[:dim] + (1,) + v.shape[dim:]
            parts.append(self._emit(node, OpKind.RESHAPE, (v.index, self.b.const(
                f"{node.name}_{k}_shape", np.array(shape, np.int32), DType.INT32)), shape, NoAttrs(), f"part{k}"))
        y = self.out(node, self.ir_shape(node))
        self.b.op(OpKind.CONCATENATION, tuple(parts), (y.index,), ConcatAttrs(dim, Activation.NONE), name=named(node))

    def op_zeros(self, node: Any) -> None:  # a constant (an LSTM's initial state)
        self.consts[node.name] = np.zeros([int(d) for d in node.args[0]], np.float32)

    def op_lstm(self, node: Any) -> None:
        """nn.LSTM (unidirectional, any number of layers, zero initial state, no projection), unrolled over its
        time steps as TensorFlow's converter unrolls a Keras LSTM: per step and gate FULLY_CONNECTED of the input
        and of the last output, ADD, LOGISTIC/TANH, and the cell update with MUL and ADD; the output sequence a
        CONCATENATION of the steps' outputs."""
        a = list(node.args)
        x = self.value(a[0], node)
        self.plain(x, node, "an LSTM")
        params, has_bias, layers, bidir, batch_first = a[2], bool(a[3]), int(a[4]), bool(a[7]), bool(a[8])
        state = [self.consts.get(getattr(h, "name", None)) for h in a[1]]
        if bidir or any(s is None or np.any(s) for s in state) or len(x.shape) != 3:
            raise UnsupportedOpError(f"{module_of(node)}: only a unidirectional LSTM over a 3-D input with a zero "
                                     "initial state is supported")
        per = 4 if has_bias else 2
        if len(params) != per * layers:
            raise UnsupportedOpError(f"{module_of(node)}: an LSTM with projections (proj_size) is not supported")
        taxis = 1 if batch_first else 0
        steps = x.shape[taxis]
        seq = [self._take(node, x, taxis, t, f"x{t}") for t in range(steps)]
        bsz = x.shape[1 - taxis]
        for layer in range(layers):
            w_ih, w_hh = (self.consts[p.name] for p in params[per * layer:per * layer + 2])
            bias = sum(self.consts[p.name] for p in params[per * layer + 2:per * layer + 4]) if has_bias else \
                np.zeros(w_ih.shape[0], np.float32)
            hid = w_hh.shape[1]
            shape = (bsz, hid)
            gw = [(self.b.const(f"{node.name}_l{layer}_wi{k}", w_ih[k * hid:(k + 1) * hid]),
                   self.b.const(f"{node.name}_l{layer}_wh{k}", w_hh[k * hid:(k + 1) * hid]),
                   self.b.const(f"{node.name}_l{layer}_b{k}", bias[k * hid:(k + 1) * hid])) for k in range(4)]
            h: int | None = None
            c: int | None = None
            out = []
            for t, xt in enumerate(seq):
                h, c = self._lstm_cell(node, xt, h, c, gw, shape, f"l{layer}t{t}")
                out.append(h)
            seq = out
        one = (bsz, 1, hid) if batch_first else (1, bsz, hid)
        parts = [self._emit(node, OpKind.RESHAPE, (h, self.b.const(f"{node.name}_y{t}_shape",
                                                                   np.array(one, np.int32), DType.INT32)),
                            one, NoAttrs(), f"y{t}") for t, h in enumerate(seq)]
        y = self.out(node, (bsz, steps, hid) if batch_first else (steps, bsz, hid))
        self.b.op(OpKind.CONCATENATION, tuple(parts), (y.index,), ConcatAttrs(taxis, Activation.NONE),
                  name=named(node))
        self.lstm_nodes.add(node.name)
        self.steps[node.name] = (taxis, seq)

    def _lstm_cell(self, node: Any, xt: int, h: int | None, c: int | None, gw: list[tuple[int, int, int]],
                   shape: tuple[int, int], tag: str) -> tuple[int, int]:
        """One time step of an LSTM layer: per gate (PyTorch's order: input, forget, cell, output) the
        FULLY_CONNECTED of the input and of the last output, their ADD and LOGISTIC/TANH; then the cell update
        with MUL and ADD. Returns (output, cell state)."""
        fc = FullyConnectedAttrs(Activation.NONE)
        ew = ElementwiseAttrs(Activation.NONE)
        gates = []
        for k, (wi, wh, b) in enumerate(gw):
            if k == 1 and c is None:  # no forget gate before there is a cell state
                gates.append(NO_TENSOR)
                continue
            g = self._emit(node, OpKind.FULLY_CONNECTED, (xt, wi, b), shape, fc, f"{tag}_g{k}x")
            if h is not None:
                zero = self.b.const(f"{node.name}_{tag}_g{k}_nobias", np.zeros(shape[1], np.float32))
                gh = self._emit(node, OpKind.FULLY_CONNECTED, (h, wh, zero), shape, fc, f"{tag}_g{k}h")
                g = self._emit(node, OpKind.ADD, (g, gh), shape, ew, f"{tag}_g{k}")
            gates.append(self._emit(node, OpKind.TANH if k == 2 else OpKind.LOGISTIC, (g,), shape, NoAttrs(),
                                    f"{tag}_a{k}"))
        cell = self._emit(node, OpKind.MUL, (gates[0], gates[2]), shape, ew, f"{tag}_ig")
        if c is not None:
            fcell = self._emit(node, OpKind.MUL, (gates[1], c), shape, ew, f"{tag}_fc")
            cell = self._emit(node, OpKind.ADD, (fcell, cell), shape, ew, f"{tag}_c")
        tc = self._emit(node, OpKind.TANH, (cell,), shape, NoAttrs(), f"{tag}_tc")
        return self._emit(node, OpKind.MUL, (gates[3], tc), shape, ew, f"{tag}_h"), cell

    def op_layer_norm(self, node: Any) -> None:
        """nn.LayerNorm over the last dimension of a 2-D or 3-D tensor, spelled as TensorFlow's converter spells
        a Keras LayerNormalization: m = MEAN(x), v = MEAN(SQUARED_DIFFERENCE(x, m)), (x - m) * RSQRT(v + eps),
        then times the weight and plus the bias (each an int8 op once quantized)."""
        x = self.value(node.args[0], node)
        self.plain(x, node, "LayerNorm")
        shape = [int(d) for d in node.args[1]]
        if len(shape) != 1 or len(x.shape) not in (2, 3) or shape[0] != x.shape[-1]:
            raise UnsupportedOpError(f"{module_of(node)}: LayerNorm over {shape} of a {len(x.shape)}-D tensor is "
                                     "not supported (over the last dimension of a 2-D or 3-D tensor is)")
        a = list(node.args) + [None] * (5 - len(node.args))
        gamma = self.consts.get(a[2].name) if a[2] is not None else None
        beta = self.consts.get(a[3].name) if a[3] is not None else None
        eps = float(a[4]) if a[4] is not None else 1e-5
        last = len(x.shape) - 1
        red = x.shape[:-1] + (1,)
        nm = node.name

        def op(kind: OpKind, ins: tuple[int, ...], shape: tuple[int, ...], attrs: Any, tag: str,
               out: int | None = None) -> int:
            return self._emit(node, kind, ins, shape, attrs, tag, out)

        axes = self.b.const(f"{nm}_axes", np.array([last], np.int32), DType.INT32)
        ew = ElementwiseAttrs(Activation.NONE)
        m = op(OpKind.MEAN, (x.index, axes), red, MeanAttrs((last,), True), "mean")
        sq = op(OpKind.SQUARED_DIFFERENCE, (x.index, m), x.shape, NoAttrs(), "sqdiff")
        v = op(OpKind.MEAN, (sq, axes), red, MeanAttrs((last,), True), "var")
        ve = op(OpKind.ADD, (v, self.b.const(f"{nm}_eps", np.array([eps], np.float32))), red, ew, "var_eps")
        r = op(OpKind.RSQRT, (ve,), red, NoAttrs(), "rsqrt")
        d = op(OpKind.SUB, (x.index, m), x.shape, ew, "centered")
        y = self.out(node, self.ir_shape(node))
        last_out = y.index if gamma is None and beta is None else None
        n = op(OpKind.MUL, (d, r), x.shape, ew, "normalized", last_out)
        if gamma is not None:
            n = op(OpKind.MUL, (n, self.b.const(f"{nm}_weight", np.asarray(gamma, np.float32))), x.shape, ew,
                   "scaled", y.index if beta is None else None)
        if beta is not None:
            op(OpKind.ADD, (n, self.b.const(f"{nm}_bias", np.asarray(beta, np.float32))), x.shape, ew, "shifted",
               y.index)
