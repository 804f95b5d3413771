"""Lowering of the operators that move data: PAD, MIRROR_PAD, CONCATENATION, STRIDED_SLICE, TRANSPOSE,
SPACE_TO_DEPTH, DEPTH_TO_SPACE, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, BROADCAST_TO, the resizes, GATHER and
RESHAPE (an alias: no call)."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import access
from ..ir import (
    NO_TENSOR,
    Activation,
    AxisAttrs,
    BlockAttrs,
    ConcatAttrs,
    DType,
    Graph,
    MirrorPadAttrs,
    Op,
    OpKind,
    PadAttrs,
    ResizeAttrs,
    SliceAttrs,
    SpaceBatchAttrs,
    Tensor,
    TransposeAttrs,
)
from ..params import (
    CopyParams,
    GatherParams,
    Kernel,
    KernelRow,
    PadParams,
    PermuteParams,
    ResizeBilinearParams,
    ResizeNearestParams,
    SpaceBatchParams,
    StridedSliceParams,
)
from .common import (
    Arr,
    FloatCall,
    act_type,
    broadcast_shape,
    check_axis,
    nhwc,
    require,
    require_int8,
    require_same_quant,
    torch_modules,
)


def lower_pad(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, PadAttrs)
    act = act_type(op, x, y)
    require(len(x.shape) <= 4, f"PAD supports up to 4-D tensors, got {list(x.shape)}")
    k = 4 - len(x.shape)
    before = (0,) * k + tuple(b for b, _ in op.attrs.paddings)
    if len(op.inputs) > 2 and op.inputs[2] != NO_TENSOR:
        cv = g.tensor(op.inputs[2])
        require(cv.data is not None, "PADV2 with a non-constant pad value is not supported")
        pad_value = int(cv.data.reshape(-1)[0])  # type: ignore[union-attr]
    else:
        pad_value = y.zero_point
    p = PadParams((1,) * k + tuple(x.shape), (1,) * k + tuple(y.shape), before, pad_value)
    return [Kernel("tml_pad_" + act, p, (op.inputs[0], op.outputs[0]))]


def lower_concat(g: Graph, op: Op) -> list[Kernel]:
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConcatAttrs)
    ax = op.attrs.axis
    require(op.attrs.activation is Activation.NONE, "CONCATENATION with a fused activation is not supported")
    esize = y.dtype.bits // 8
    outer = int(np.prod(y.shape[:ax], dtype=np.int64))
    inner = int(np.prod(y.shape[ax + 1:], dtype=np.int64)) * esize
    kernels, off = [], 0
    for i in op.inputs:
        t = g.tensor(i)
        if y.quant is not None:
            require(t.quant is not None and t.scale == y.scale and t.zero_point == y.zero_point,
                    "CONCATENATION inputs must share the output's quantization (as TFLM requires)")
        block = t.shape[ax] * inner
        kernels.append(Kernel("tml_copy", CopyParams(outer, block, y.shape[ax] * inner, off), (i, op.outputs[0])))
        off += block
    return kernels


def lower_strided_slice(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, SliceAttrs)
    require(len(x.shape) <= 4, f"STRIDED_SLICE supports up to 4-D tensors, got {list(x.shape)}")
    require(x.dtype is y.dtype and (x.quant is None or (x.scale == y.scale and x.zero_point == y.zero_point)),
            "STRIDED_SLICE needs the same type and quantization on input and output (as TFLM requires)")
    require(int(np.prod(a.size)) == y.size, f"STRIDED_SLICE of {list(x.shape)} gives {list(a.size)} elements, "
            f"but its output is {list(y.shape)}")
    k = 4 - len(x.shape)
    p = StridedSliceParams((1,) * k + tuple(x.shape), (1,) * k + tuple(a.size), (0,) * k + tuple(a.begin),
                           (1,) * k + tuple(a.strides), x.dtype.bits // 8)
    return [Kernel("tml_strided_slice", p, (op.inputs[0], op.outputs[0]))]


def _permute_params(out6: list[int], strides6: list[int], esize: int) -> PermuteParams:
    k = 6 - len(out6)
    return PermuteParams((1,) * k + tuple(out6), (0,) * k + tuple(strides6), esize)


def lower_permute(g: Graph, op: Op) -> list[Kernel]:
    """TRANSPOSE, SPACE_TO_DEPTH and DEPTH_TO_SPACE: the output read from the input through up to six
    (dimension, stride) pairs; only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"{op.kind.value} needs a whole-byte type, got {x.dtype.value}")
    esize = x.dtype.bits // 8
    xs = list(x.shape)
    inner = [int(np.prod(xs[d + 1:], dtype=np.int64)) for d in range(len(xs))]
    a = op.attrs
    if isinstance(a, TransposeAttrs):
        p = _permute_params([xs[d] for d in a.perm], [inner[d] for d in a.perm], esize)
    else:
        assert isinstance(a, BlockAttrs)
        b = a.block_size
        n, h, w, c = xs
        if op.kind is OpKind.SPACE_TO_DEPTH:  # out (n, h/b, w/b, [by, bx, c])
            p = _permute_params([n, h // b, w // b, b, b, c], [h * w * c, b * w * c, b * c, w * c, c, 1], esize)
        else:  # out (n, [h, by], [w, bx], c'): input channel (by * b + bx) * c' + c
            co = c // (b * b)
            p = _permute_params([n, h, b, w, b, co], [h * w * c, w * c, b * co, c, co, 1], esize)
    return [Kernel("tml_permute", p, (op.inputs[0], op.outputs[0]))]


def mirror_index(size: int, before: int, after: int, symmetric: bool) -> tuple[int, ...]:
    """The input index of every output index of a MIRROR_PAD along one dimension (TFLM's mirror: REFLECT leaves
    the edge out, SYMMETRIC repeats it)."""
    off = 0 if symmetric else 1
    out = []
    for i in range(size + before + after):
        j = i - before
        out.append(-j - 1 + off if j < 0 else 2 * size - 1 - j - off if j >= size else j)
    return tuple(out)


def lower_mirror_pad(g: Graph, op: Op) -> list[Kernel]:
    """MIRROR_PAD of the height and width of an NHWC tensor (or the time axis of an [N, T, C] one): every output
    pixel copies one input pixel, through RESIZE_NEAREST_NEIGHBOR's kernel with mirrored row and column tables;
    only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, MirrorPadAttrs)
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"MIRROR_PAD needs a whole-byte type, got {x.dtype.value}")
    require(len(x.shape) in (3, 4) and a.paddings[0] == (0, 0) and a.paddings[-1] == (0, 0),
            f"MIRROR_PAD is supported on the spatial dimensions of a 3-D or 4-D tensor (paddings "
            f"{[list(p) for p in a.paddings]} of {list(x.shape)})")
    shape, pads = (tuple(x.shape), a.paddings) if len(x.shape) == 4 else \
        ((x.shape[0], x.shape[1], 1, x.shape[2]), (*a.paddings[:2], (0, 0), a.paddings[2]))
    n, ih, iw, c = shape
    limit = 0 if a.symmetric else 1
    require(all(b <= d - limit and e <= d - limit for (b, e), d in ((pads[1], ih), (pads[2], iw))),
            f"MIRROR_PAD's paddings {[list(p) for p in a.paddings]} exceed what "
            f"{'SYMMETRIC' if a.symmetric else 'REFLECT'} allows for {list(x.shape)}")
    p = ResizeNearestParams(n, ih, iw, c * (x.dtype.bits // 8), ih + sum(pads[1]), iw + sum(pads[2]),
                            mirror_index(ih, *pads[1], a.symmetric), mirror_index(iw, *pads[2], a.symmetric))
    return [Kernel("tml_resize_nearest", p, (op.inputs[0], op.outputs[0]))]


def lower_space_batch(g: Graph, op: Op) -> list[Kernel]:
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND (3-D as 4-D with a width of 1): only bytes move, as in TFLM; the
    padding of SPACE_TO_BATCH_ND is a raw 0, not the zero point: the `tflite-micro` interpreter memsets its
    padding with an output offset it leaves at 0 (checked on a model whose padded values reach the output)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, SpaceBatchAttrs)
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"{op.kind.value} needs a whole-byte type, got {x.dtype.value}")
    xs, ys = (tuple(t.shape) if len(t.shape) == 4 else (t.shape[0], t.shape[1], 1, t.shape[2]) for t in (x, y))
    block = tuple(a.block) + (1,) * (2 - len(a.block))
    pads = tuple(a.pads) + ((0, 0),) * (2 - len(a.pads))
    p = SpaceBatchParams(xs[0], xs[1], xs[2], ys[0], ys[1], ys[2], xs[3] * (x.dtype.bits // 8), block[0], block[1],
                         pads[0][0], pads[1][0], 0)
    func = "tml_space_to_batch" if op.kind is OpKind.SPACE_TO_BATCH_ND else "tml_batch_to_space"
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def lower_broadcast_to(g: Graph, op: Op) -> list[Kernel]:
    """BROADCAST_TO: the output read from the input with stride 0 along the broadcast dimensions (tml_permute);
    only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"BROADCAST_TO needs a whole-byte type, got {x.dtype.value}")
    require(len(y.shape) <= 6, f"BROADCAST_TO supports up to 6 dimensions, got {list(y.shape)}")
    xs = (1,) * (len(y.shape) - len(x.shape)) + tuple(x.shape)
    inner = [int(np.prod(xs[d + 1:], dtype=np.int64)) for d in range(len(xs))]
    p = _permute_params(list(y.shape), [0 if xs[d] == 1 else inner[d] for d in range(len(xs))], x.dtype.bits // 8)
    return [Kernel("tml_permute", p, (op.inputs[0], op.outputs[0]))]


def nearest_index(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> tuple[int, ...]:
    """TFLM GetNearestNeighbor for every output coordinate, in float32 as TFLM computes it."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align_corners and out_size > 1
             else f32(in_size) / f32(out_size))
    v = (np.arange(out_size).astype(f32) + f32(0.5 if half_pixel_centers else 0.0)) * scale
    v = v.astype(f32)
    if align_corners:  # std::round: half away from zero (v - trunc(v) is exact in float32)
        t = np.trunc(v)
        idx = (t + np.sign(v) * (np.abs(v - t) >= f32(0.5))).astype(np.int64)
    else:
        idx = np.floor(v).astype(np.int64)
    idx = np.minimum(idx, in_size - 1)
    if half_pixel_centers:
        idx = np.maximum(idx, 0)
    return tuple(int(i) for i in idx)


def lower_resize_nearest(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"RESIZE_NEAREST_NEIGHBOR needs a whole-byte type, got {x.dtype.value}")
    n, ih, iw, c = nhwc(x.shape)
    _, oh, ow, _ = nhwc(y.shape)
    p = ResizeNearestParams(n, ih, iw, c * (x.dtype.bits // 8), oh, ow,
                            nearest_index(oh, ih, a.align_corners, a.half_pixel_centers),
                            nearest_index(ow, iw, a.align_corners, a.half_pixel_centers))
    return [Kernel("tml_resize_nearest", p, (op.inputs[0], op.outputs[0]))]


def bilinear_coords(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> tuple[
        tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """TFLM ResizeBilinearInteger's source coordinates: for each output coordinate the lower and upper source
    index and the 10-bit weight of the upper one (input_y - 1024 * y0), with C++'s truncating division."""
    def div(a: int, b: int) -> int:  # C++ integer division: truncates toward zero
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q
    scale = div((1 << 10) * in_size + out_size // 2, out_size)
    if align_corners and out_size > 1:
        scale = div((1 << 10) * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    lo, hi, wt = [], [], []
    for v in range(out_size):
        scaled = v * scale + scale // 2 - (1 << 9) if half_pixel_centers else v * scale
        a = max(div(scaled, 1 << 10), 0)
        b = min(div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
        require(a < in_size and -512 <= scaled - (a << 10) <= 1024,
                f"RESIZE_BILINEAR from {in_size} to {out_size} reads outside its input")
        lo.append(a)
        hi.append(b)
        wt.append(scaled - (a << 10))
    return tuple(lo), tuple(hi), tuple(wt)


def lower_resize_bilinear(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    require_int8(x, y)
    require_same_quant(op, x, y)
    n, ih, iw, c = nhwc(x.shape)
    _, oh, ow, _ = nhwc(y.shape)
    ys = bilinear_coords(oh, ih, a.align_corners, a.half_pixel_centers)
    xs = bilinear_coords(ow, iw, a.align_corners, a.half_pixel_centers)
    p = ResizeBilinearParams(n, ih, iw, c, oh, ow, *ys, *xs)
    return [Kernel("tml_resize_bilinear_s8", p, (op.inputs[0], op.outputs[0]))]


def lower_gather(g: Graph, op: Op) -> list[Kernel]:
    """GATHER (TFLM gather.cc, batch_dims 0): out[outer, i, inner] = params[outer, indices[i], inner], bytes
    only. Constant indices are checked here; an index a model input supplies that is out of range gives zeros
    (TFLM's Invoke fails)."""
    x, idx, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, AxisAttrs)
    require_same_quant(op, x, y)
    require(x.dtype.bits % 8 == 0, f"GATHER needs a whole-byte type, got {x.dtype.value}")
    require(idx.dtype is DType.INT32, f"GATHER indices must be int32, got {idx.dtype.value}")
    xs = tuple(x.shape)
    if idx.data is not None:
        bad = [int(v) for v in np.asarray(idx.data).reshape(-1) if not 0 <= v < xs[a.axis]]
        require(not bad, f"GATHER index {bad[:1]} is outside [0, {xs[a.axis]})")
    p = GatherParams(int(np.prod(xs[:a.axis])), xs[a.axis], int(np.prod(xs[a.axis + 1:])) * (x.dtype.bits // 8),
                     idx.size)
    return [Kernel("tml_gather", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def lower_alias(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    require(x.size == y.size, f"RESHAPE from {list(x.shape)} to {list(y.shape)} changes the element count")
    return []  # an alias: the output shares the input's storage


# the operators this family lowers (tinyml.lower.LOWERINGS gathers every family's)
LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.PAD: lower_pad, OpKind.CONCATENATION: lower_concat, OpKind.STRIDED_SLICE: lower_strided_slice,
    OpKind.RESHAPE: lower_alias, OpKind.TRANSPOSE: lower_permute, OpKind.SPACE_TO_DEPTH: lower_permute,
    OpKind.DEPTH_TO_SPACE: lower_permute, OpKind.RESIZE_NEAREST_NEIGHBOR: lower_resize_nearest,
    OpKind.RESIZE_BILINEAR: lower_resize_bilinear, OpKind.GATHER: lower_gather, OpKind.MIRROR_PAD: lower_mirror_pad,
    OpKind.BROADCAST_TO: lower_broadcast_to, OpKind.SPACE_TO_BATCH_ND: lower_space_batch,
    OpKind.BATCH_TO_SPACE_ND: lower_space_batch,
}


def _check_concatenation(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """CONCATENATION."""
    assert isinstance(a, ConcatAttrs)
    rank = len(out.shape)
    axis = a.axis + rank if a.axis < 0 else a.axis
    if not 0 <= axis < rank:
        fail(f"{where} has axis {a.axis} for a {rank}-D output")
    parts = [t for t in ins if t is not None]
    if any(len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis)
           for t in parts) or sum(t.shape[axis] for t in parts) != out.shape[axis]:
        fail(f"{where}: inputs {[list(t.shape) for t in parts]} do not concatenate to {list(out.shape)} along "
             f"axis {a.axis}")


def _check_pad(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """PAD, MIRROR_PAD."""
    assert isinstance(a, (PadAttrs, MirrorPadAttrs))
    if len(a.paddings) != len(x.shape) or any(b < 0 or e < 0 for b, e in a.paddings) or \
            tuple(d + b + e for d, (b, e) in zip(x.shape, a.paddings)) != tuple(out.shape):
        fail(f"{where}: paddings {[list(p) for p in a.paddings]} do not take {list(x.shape)} to "
             f"{list(out.shape)}")


def _check_space_to_batch_nd(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND."""
    assert isinstance(a, SpaceBatchAttrs)
    spatial = len(x.shape) - 2
    want = None
    if spatial in (1, 2) and len(a.block) == spatial and min(a.block) >= 1 and \
            all(b >= 0 and e >= 0 for b, e in a.pads) and len(out.shape) == len(x.shape):
        n, blocks = x.shape[0], math.prod(a.block)
        if op.kind is OpKind.SPACE_TO_BATCH_ND:
            dims = [x.shape[1 + d] + sum(a.pads[d]) for d in range(spatial)]
            if all(v % a.block[d] == 0 for d, v in enumerate(dims)):
                want = (n * blocks, *(v // a.block[d] for d, v in enumerate(dims)), x.shape[-1])
        elif n % blocks == 0:
            want = (n // blocks, *(x.shape[1 + d] * a.block[d] - sum(a.pads[d]) for d in range(spatial)),
                    x.shape[-1])
    if want is None or want != tuple(out.shape) or min(want) < 1:
        fail(f"{where}: block {list(a.block)} and paddings {[list(p) for p in a.pads]} do not take "
             f"{list(x.shape)} to {list(out.shape)}")


def _check_broadcast_to(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """BROADCAST_TO."""
    both = broadcast_shape(tuple(x.shape), tuple(out.shape))
    if both != tuple(out.shape):
        fail(f"{where}: {list(x.shape)} does not broadcast to {list(out.shape)}")


def _check_reshape(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """RESHAPE."""
    if x.size != out.size:
        fail(f"{where}: {list(x.shape)} ({x.size} values) cannot become {list(out.shape)} ({out.size})")
    if x.dtype is not out.dtype:
        fail(f"{where}: reshapes {x.dtype.value} '{x.name}' into {out.dtype.value} '{out.name}'; a reshape keeps "
             "the type")


def _check_transpose(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """TRANSPOSE."""
    assert isinstance(a, TransposeAttrs)
    if sorted(a.perm) != list(range(len(x.shape))) or len(x.shape) > 6 or \
            tuple(x.shape[d] for d in a.perm) != tuple(out.shape):
        fail(f"{where}: permutation {list(a.perm)} does not take {list(x.shape)} to {list(out.shape)} (at most "
             "6 dimensions)")


def _check_space_to_depth(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """SPACE_TO_DEPTH, DEPTH_TO_SPACE."""
    assert isinstance(a, BlockAttrs)
    b = a.block_size
    if b < 1 or len(x.shape) != 4 or len(out.shape) != 4:
        fail(f"{where} has block size {b} and shapes {list(x.shape)} -> {list(out.shape)}; it needs 4-D "
             "tensors and a block size of at least 1")
    n, h, w, c = x.shape
    want = ((n, h // b, w // b, c * b * b) if op.kind is OpKind.SPACE_TO_DEPTH and h % b == 0 and w % b == 0
            else (n, h * b, w * b, c // (b * b)) if op.kind is OpKind.DEPTH_TO_SPACE and c % (b * b) == 0
            else None)
    if want != tuple(out.shape):
        fail(f"{where}: block size {b} does not take {list(x.shape)} to {list(out.shape)}")


def _check_resize_nearest_neighbor(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR."""
    if len(x.shape) != 4 or len(out.shape) != 4 or x.shape[0] != out.shape[0] or x.shape[3] != out.shape[3]:
        fail(f"{where}: input {list(x.shape)} and output {list(out.shape)} must be 4-D with the same batch and "
             "channels")
    size = ins[1] if len(ins) > 1 else None
    if size is None or size.data is None or [int(v) for v in np.asarray(size.data).reshape(-1)] != \
            list(out.shape[1:3]):
        fail(f"{where}: its size input does not hold the output's height and width {list(out.shape[1:3])}")


def _check_strided_slice(g: Graph, k: int, op: Op, where: str, ins: list, x: Tensor, out: Tensor, a,  # noqa: ANN001
    fail) -> None:  # noqa: ANN001
    """STRIDED_SLICE."""
    assert isinstance(a, SliceAttrs)
    if not len(a.begin) == len(a.size) == len(a.strides) == len(x.shape) or \
            any(n < 1 or st == 0 or not 0 <= b < d or not 0 <= b + (n - 1) * st < d
                for b, n, st, d in zip(a.begin, a.size, a.strides, x.shape)) or math.prod(a.size) != out.size:
        fail(f"{where}: begin {list(a.begin)}, size {list(a.size)} and strides {list(a.strides)} do not select "
             f"{list(out.shape)} from {list(x.shape)}")


# the structural check of each operator of this family (tinyml.validate)
# moves of values: on float32 inside a quantized graph too (a float island, see tinyml.compiler)
FLOAT_ISLAND = frozenset({OpKind.STRIDED_SLICE, OpKind.RESHAPE, OpKind.CONCATENATION, OpKind.TRANSPOSE,
                          OpKind.SPACE_TO_DEPTH, OpKind.DEPTH_TO_SPACE, OpKind.RESIZE_NEAREST_NEIGHBOR})

CHECKS: dict[OpKind, Callable[..., None]] = {
    OpKind.CONCATENATION: _check_concatenation, OpKind.GATHER: check_axis, OpKind.PAD: _check_pad,
    OpKind.MIRROR_PAD: _check_pad, OpKind.SPACE_TO_BATCH_ND: _check_space_to_batch_nd,
    OpKind.BATCH_TO_SPACE_ND: _check_space_to_batch_nd, OpKind.BROADCAST_TO: _check_broadcast_to,
    OpKind.RESHAPE: _check_reshape, OpKind.TRANSPOSE: _check_transpose,
    OpKind.SPACE_TO_DEPTH: _check_space_to_depth, OpKind.DEPTH_TO_SPACE: _check_space_to_depth,
    OpKind.RESIZE_NEAREST_NEIGHBOR: _check_resize_nearest_neighbor,
    OpKind.RESIZE_BILINEAR: _check_resize_nearest_neighbor, OpKind.STRIDED_SLICE: _check_strided_slice,
}


# ---- the NumPy semantics of this family's kernels (TFLM's integer arithmetic): the reference executor runs
# them, the tests hold them and the C kernels to TFLM

def pad(p: PadParams, x: Arr) -> Arr:
    out = np.full(p.out_dims, p.pad_value, x.dtype)
    sl = tuple(slice(b, b + d) for b, d in zip(p.before, p.in_dims))
    out[sl] = x.reshape(p.in_dims)
    return out


def strided_slice(p: StridedSliceParams, x: Arr) -> Arr:
    x4 = x.reshape(p.in_dims)
    idx = tuple(b + s * np.arange(n) for b, s, n in zip(p.begin, p.stride, p.out_dims))
    return x4[np.ix_(*idx)]


def permute(p: PermuteParams, x: Arr) -> Arr:
    flat = np.ascontiguousarray(x).reshape(-1)
    idx = np.zeros(p.out_dims, np.int64)
    for d, (n, s) in enumerate(zip(p.out_dims, p.in_stride)):
        shape = [1] * 6
        shape[d] = n
        idx = idx + (np.arange(n) * s).reshape(shape)
    return flat[idx.reshape(-1)]


def resize_nearest(p: ResizeNearestParams, x: Arr) -> Arr:
    x4 = np.ascontiguousarray(x).reshape(p.batches, p.in_h, p.in_w, -1)
    return x4[:, np.asarray(p.y_index)][:, :, np.asarray(p.x_index)]


def resize_bilinear(p: ResizeBilinearParams, x: Arr) -> Arr:
    x4 = x.reshape(p.batches, p.in_h, p.in_w, p.channels).astype(np.int64)
    y0, y1, x0, x1 = (np.asarray(v) for v in (p.y0, p.y1, p.x0, p.x1))
    dy = np.asarray(p.wy, np.int64)[None, :, None, None]
    dx = np.asarray(p.wx, np.int64)[None, None, :, None]
    v = (x4[:, y0][:, :, x0] * (1024 - dy) * (1024 - dx) + x4[:, y1][:, :, x0] * dy * (1024 - dx)
         + x4[:, y0][:, :, x1] * (1024 - dy) * dx + x4[:, y1][:, :, x1] * dy * dx)
    r = np.abs(v) + (1 << 19) >> 20  # round half away from zero, then the sign back
    return (np.sign(v) * r).astype(np.int8)


def gather(p: GatherParams, x: Arr, idx: Arr) -> Arr:
    blocks = x.reshape(-1).view(np.uint8).reshape(p.outer, p.axis, p.inner_bytes)
    i = idx.reshape(-1).astype(np.int64)
    ok = (i >= 0) & (i < p.axis)
    out = blocks[:, np.where(ok, i, 0)] * ok[None, :, None].astype(np.uint8)
    return out.reshape(-1).view(x.dtype)


def space_batch(p: SpaceBatchParams, x: Arr, to_batch: bool) -> Arr:
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND on pixels of `pixel` bytes (TFLM's loops; the padding written
    bytewise, as its memset)."""
    src = np.ascontiguousarray(x).reshape(-1).view(np.uint8).reshape(p.in_b, p.in_h, p.in_w, p.pixel)
    out = np.full((p.out_b, p.out_h, p.out_w, p.pixel), p.pad_value & 0xFF, np.uint8)
    if to_batch:
        for b in range(p.out_b):
            n, sw, sh = b % p.in_b, (b // p.in_b) % p.block_w, (b // p.in_b) // p.block_w
            for yy in range(p.out_h):
                iy = yy * p.block_h + sh - p.pad_top
                if 0 <= iy < p.in_h:
                    ix = np.arange(p.out_w) * p.block_w + sw - p.pad_left
                    ok = (ix >= 0) & (ix < p.in_w)
                    out[b, yy, ok] = src[n, iy, ix[ok]]
    else:
        for b in range(p.in_b):
            n, off = b % p.out_b, b // p.out_b
            for yy in range(p.in_h):
                oy = yy * p.block_h + off // p.block_w - p.pad_top
                if 0 <= oy < p.out_h:
                    ox = np.arange(p.in_w) * p.block_w + off % p.block_w - p.pad_left
                    ok = (ox >= 0) & (ox < p.out_w)
                    out[n, oy, ox[ok]] = src[b, yy, ok]
    return out.reshape(-1).view(x.dtype)


def copy_into(p: CopyParams, x: Arr, *, out: Arr) -> None:
    """`x` as `outer` blocks of `block` bytes, written `dst_stride` bytes apart from `dst_offset` into `out`."""
    flat = out.reshape(-1).view(np.uint8)
    src = x.reshape(-1).view(np.uint8).reshape(p.outer, p.block)
    flat.reshape(p.outer, p.dst_stride)[:, p.dst_offset:p.dst_offset + p.block] = src


# the runtime kernels of this family, one row each (tinyml.kernels.registry gathers them)
KERNELS: dict[str, KernelRow] = {row.func: row for row in [
    KernelRow("tml_pad_s8", ("tml_pad_s8.c",), pad, gap=access.pad),
    KernelRow("tml_pad_s16", ("tml_s16.c",), pad, gap=access.pad),
    KernelRow("tml_copy", ("tml_copy.c",), copy_into, partial=True),
    KernelRow("tml_copy_rect", ("tml_copy_rect.c",)),
    KernelRow("tml_strided_slice", ("tml_strided_slice.c",), strided_slice),
    KernelRow("tml_permute", ("tml_permute.c",), permute),
    KernelRow("tml_gather", ("tml_gather.c",), gather),
    KernelRow("tml_resize_nearest", ("tml_resize_nearest.c",), resize_nearest),
    KernelRow("tml_resize_bilinear_s8", ("tml_resize_bilinear_s8.c",), resize_bilinear),
    KernelRow("tml_space_to_batch", ("tml_space_batch.c",), lambda p, x: space_batch(p, x, True)),
    KernelRow("tml_batch_to_space", ("tml_space_batch.c",), lambda p, x: space_batch(p, x, False)),
]}


def _pad_float(c: FloatCall) -> Any:
    _, F = torch_modules()
    pads: list[int] = []
    for before, after in reversed(c.op.attrs.paddings):
        pads += [before, after]
    return F.pad(c.x, pads)


def _depth_to_space_float(c: FloatCall) -> Any:
    """NHWC: out[h * r + i, w * r + j, c] = in[h, w, (i * r + j) * C + c]."""
    r = c.op.attrs.block_size
    n, h, w, ch = c.x.shape
    return c.x.reshape(n, h, w, r, r, ch // (r * r)).permute(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, -1)


def _space_to_depth_float(c: FloatCall) -> Any:
    r = c.op.attrs.block_size
    n, h, w, ch = c.x.shape
    return c.x.reshape(n, h // r, r, w // r, r, ch).permute(0, 1, 3, 2, 4, 5).reshape(n, h // r, w // r, -1)


def _strided_slice_float(c: FloatCall) -> Any:
    """The slice of every dimension but the batch."""
    torch, _ = torch_modules()
    x, a = c.x, c.op.attrs
    for d, (b0, n, s) in enumerate(zip(a.begin, a.size, a.strides)):
        if d > 0 and (b0, n, s) != (0, x.shape[d], 1):
            x = x.index_select(d, torch.arange(b0, b0 + n * s, s) if s > 0 else
                               torch.tensor([b0 + i * s for i in range(n)], dtype=torch.long))
    return x.reshape((x.shape[0],) + c.out_shape)


def _resize_float(c: FloatCall) -> Any:
    _, F = torch_modules()
    xc, size = c.x.permute(0, 3, 1, 2), c.out_shape[:2]
    if c.op.kind is OpKind.RESIZE_BILINEAR:
        y = F.interpolate(xc, size=size, mode="bilinear", align_corners=c.op.attrs.align_corners)
    else:
        y = F.interpolate(xc, size=size, mode="nearest")
    return y.permute(0, 2, 3, 1)


def _concatenation_float(c: FloatCall) -> Any:
    torch, _ = torch_modules()
    return torch.cat([c.fq(i, c.get(i)) for i in c.op.inputs], dim=c.op.attrs.axis)


def _gather_float(c: FloatCall) -> Any:
    torch, _ = torch_modules()
    idx = torch.as_tensor(np.asarray(c.g.tensor(c.op.inputs[1]).data, np.int64))
    return c.x.index_select(c.op.attrs.axis, idx.reshape(-1)).reshape((c.x.shape[0],) + c.out_shape)


# float execution on the PyTorch path
FLOAT: dict[OpKind, Callable[[FloatCall], Any]] = {
    OpKind.PAD: _pad_float, OpKind.DEPTH_TO_SPACE: _depth_to_space_float, OpKind.SPACE_TO_DEPTH: _space_to_depth_float,
    OpKind.TRANSPOSE: lambda c: c.x.permute(*c.op.attrs.perm),
    OpKind.RESHAPE: lambda c: c.x.reshape((c.x.shape[0],) + c.out_shape), OpKind.CONCATENATION: _concatenation_float,
    OpKind.STRIDED_SLICE: _strided_slice_float, OpKind.RESIZE_NEAREST_NEIGHBOR: _resize_float,
    OpKind.RESIZE_BILINEAR: _resize_float, OpKind.GATHER: _gather_float,
}
