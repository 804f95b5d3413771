"""The order in which kernels read and write: the exact safe overlap of a call's output with an input it
consumes for the last time (each kernel's registry row names its analysis, `KernelRow.gap`).

A kernel writes its output in a fixed order and reads its input in a fixed order. If the output buffer starts
`gap` bytes *below* the input buffer (out_base = in_base - gap), the output may grow into the input as long as
every output byte is written only after the input bytes at that address will never be read again:

    for every write event t:  out_base + last_byte_written(t) < in_base + min(input bytes read at or after t)
    =>  gap >= max_t (last_byte_written(t) - min_read_from(t) + 1)

`min_read_from(t)` is the suffix minimum of the smallest input byte each event reads, so reads that happen
after a write (later pixels, and the rest of the current pixel) are all protected. The functions here derive
those two arrays from the kernels' loop orders in `runtime_c/src` (pixel by pixel, row-major, channels inner),
and return the smallest safe gap. gap == 0 means the kernel can run fully in place.

Each analysis is `gap(params, input_position, block)`: the smallest gap for the input at `input_position`, or None
where that input's access pattern is not analysed (then: no overlap); `block` is the number of output pixels the
kernel that runs the call computes together (generated kernels: tinyml.kernels.pixel_block).
"""
from __future__ import annotations

import numpy as np

from .params import BroadcastParams, ConvParams, MeanParams, PadParams, PoolParams


def gap_between(last_written: np.ndarray, min_read: np.ndarray) -> int:
    suffix_min = np.minimum.accumulate(min_read[::-1])[::-1]
    return max(0, int(np.max(last_written - suffix_min + 1)))


def _window_gap(batches: int, in_h: int, in_w: int, in_c: int, out_h: int, out_w: int, out_c: int, stride_h: int,
                stride_w: int, pad_h: int, pad_w: int, block: int = 1) -> int:
    """Kernels that compute output pixels from windows of input rows/cols (conv, depthwise, pooling), `block`
    consecutive pixels (in raster order) at a time: event = a block; it writes the block's bytes and reads from
    the first in-bounds row/col of its first pixel's window onwards."""
    b, oy, ox = np.meshgrid(np.arange(batches), np.arange(out_h), np.arange(out_w), indexing="ij")
    iy = np.clip(oy * stride_h - pad_h, 0, in_h - 1)
    ix = np.clip(ox * stride_w - pad_w, 0, in_w - 1)
    first_read = (((b * in_h + iy) * in_w + ix) * in_c).reshape(-1)
    pixel = ((b * out_h + oy) * out_w + ox).reshape(-1)
    last_written = pixel * out_c + out_c - 1
    if block > 1:
        last = np.minimum((pixel // block) * block + block - 1, pixel[-1]) if len(pixel) else pixel
        last_written = last * out_c + out_c - 1
        first_read = first_read[(pixel // block) * block]
    return gap_between(last_written, first_read)


def _depthwise_gap(batches: int, in_h: int, in_w: int, c: int, out_h: int, out_w: int, stride_h: int, stride_w: int,
                   pad_h: int, pad_w: int, group: int = 4, pairs: bool = False) -> int:
    """Depthwise convolutions with one output channel per input channel: pixel by pixel, `group` channels at a
    time (the generated kernels' four-channel steps; the runtime kernel's channel-by-channel order is a finer
    interleaving of the same events), each event reads its channels of the whole window before it writes them.
    An event's writes must not reach input bytes that a later event reads; its own reads are done.

    `pairs`: the kernel may also take two neighbours of a row together (the dsp kernels' inside pairs, `_in2`):
    for each group, one pass over both windows for the even lanes (channels c, c + 2), whose outputs it writes,
    then one for the odd lanes; which pixels pair up depends on where a row's inside pixels start, so both
    pairings of every row are analysed besides single pixels, and the largest gap is the safe one (an event's
    writes meet the same later reads whether the pixels after it are single or paired)."""
    b, oy, ox = np.meshgrid(np.arange(batches), np.arange(out_h), np.arange(out_w), indexing="ij")
    iy = np.clip(oy * stride_h - pad_h, 0, in_h - 1)
    ix = np.clip(ox * stride_w - pad_w, 0, in_w - 1)
    first_pixel = (((b * in_h + iy) * in_w + ix) * c).reshape(-1)
    pixel = ((b * out_h + oy) * out_w + ox).reshape(-1)
    if len(pixel) * -(-c // group) < 2:
        return 0
    starts = np.arange(0, c, group).reshape(1, -1)
    ends = np.minimum(starts + group, c)
    gaps = [_event_gap(pixel.reshape(-1, 1) * c + ends - 1, first_pixel.reshape(-1, 1) + starts)]
    for offset in (0, 1) if pairs else ():
        key = ((b * out_h + oy) * (out_w + 2) + (ox + offset) // 2).reshape(-1)
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])   # each pair's first pixel (raster order)
        last_pixel = np.maximum.reduceat(pixel, first).reshape(-1, 1)
        read = (np.minimum.reduceat(first_pixel, first).reshape(-1, 1) + starts)
        even = last_pixel * c + np.minimum(starts + 2, ends - 1)   # (pair, group, lane): the even lanes first
        odd = last_pixel * c + ends - 1
        gaps.append(_event_gap(np.stack([even, odd], axis=-1), np.stack([read, read], axis=-1)))
    return max(gaps)


def _event_gap(last_written: np.ndarray, first_read: np.ndarray) -> int:
    """The smallest gap for events in the order of the flattened arrays: each reads from `first_read` onwards,
    then writes up to `last_written`; its writes must stay below every later event's reads."""
    last_written, first_read = last_written.reshape(-1), first_read.reshape(-1)
    later = np.append(np.minimum.accumulate(first_read[::-1])[::-1][1:], np.iinfo(np.int64).max // 4)
    return max(0, int(np.max(last_written - later + 1)))


def conv(p: ConvParams, input_position: int, block: int = 1) -> int | None:
    """Convolutions (and in-place depthwise, a depth multiplier above 1): output pixels from windows of the input,
    `block` pixels at a time, every output channel of a pixel (block) written after its window is read."""
    if input_position != 0:
        return None
    return _window_gap(p.batches, p.in_h, p.in_w, p.in_c, p.out_h, p.out_w, p.out_c, p.stride_h, p.stride_w,
                       p.pad_h, p.pad_w, block)


def depthwise(p: ConvParams, input_position: int, block: int = 1) -> int | None:
    """tml_depthwise_conv_s8 and the generated depthwise kernels: with one output channel per input channel, four
    channels of a pixel at a time (each channel's output follows the reads of its own window), `block` 2: or of
    two neighbours at a time (see _depthwise_gap); otherwise as a convolution."""
    if input_position == 0 and p.depth_multiplier == 1 and p.in_c == p.out_c:
        return _depthwise_gap(p.batches, p.in_h, p.in_w, p.in_c, p.out_h, p.out_w, p.stride_h, p.stride_w, p.pad_h,
                              p.pad_w, pairs=block == 2)
    return conv(p, input_position, block)


def pool(p: PoolParams, input_position: int, block: int = 1) -> int | None:
    """Pooling: pixel by pixel from windows of the input."""
    if input_position != 0:
        return None
    return _window_gap(p.batches, p.in_h, p.in_w, p.channels, p.out_h, p.out_w, p.channels, p.stride_h, p.stride_w,
                       p.pad_h, p.pad_w)


def in_order(p: object, input_position: int, block: int = 1) -> int | None:
    """Element-wise kernels whose out[i] is written right after in[i] is read, in order, and whose output elements
    are no wider than their input's (a wider one would overwrite input elements not read yet); a softmax row is
    read twice before its first write, then y[c] follows the read of x[c]."""
    return 0


def broadcast(p: BroadcastParams, input_position: int, block: int = 1) -> int | None:
    """Two-operand element-wise kernels: in order for an operand read at the output's own index (no wider
    output), not analysed for a broadcast one."""
    stride = p.a_stride if input_position == 0 else p.b_stride
    dense = (p.d3 * p.d2 * p.d1, p.d3 * p.d2, p.d3, 1)
    dims = (p.d0, p.d1, p.d2, p.d3)
    same = all(s == d or n == 1 for s, d, n in zip(stride, dense, dims))
    return 0 if same else None


def mean(p: MeanParams, input_position: int, block: int = 1) -> int | None:
    """MEAN and REDUCE_MAX: one output element after the reads of its reduced elements, in order."""
    d, r = p.in_dims, p.reduce
    ext = [1 if r[k] else d[k] for k in range(4)]
    o = np.stack(np.meshgrid(*[np.arange(e) for e in ext], indexing="ij"), -1).reshape(-1, 4)
    first_read = ((o[:, 0] * d[1] + o[:, 1]) * d[2] + o[:, 2]) * d[3] + o[:, 3]
    return gap_between(np.arange(len(o)), first_read)


def pad(p: PadParams, input_position: int, block: int = 1) -> int | None:
    """PAD: each output element in order, an inside one after reading its input element."""
    od, idims, bf = p.out_dims, p.in_dims, p.before
    o = np.stack(np.meshgrid(*[np.arange(e) for e in od], indexing="ij"), -1).reshape(-1, 4)
    i = o - np.asarray(bf)
    inside = np.all((i >= 0) & (i < np.asarray(idims)), axis=1)
    lin = ((i[:, 0] * idims[1] + i[:, 1]) * idims[2] + i[:, 2]) * idims[3] + i[:, 3]
    big = np.iinfo(np.int64).max // 4
    return gap_between(np.arange(len(o)), np.where(inside, lin, big))
