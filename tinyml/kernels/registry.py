"""One row per runtime C kernel (`runtime_c/`): everything tinyml knows about the function in one place.

A row names the function, the runtime sources that define it, its NumPy reference (the semantics the reference
executor runs and the tests hold to TFLM) and what the memory planner may do with it. Lowering (tinyml.ops)
emits calls by function name; the emitter copies a call's sources from its row, the reference executor runs its
row's reference, the planner reads its capabilities. A new kernel is one row plus its C: here, or in the `KERNELS`
of the operator family (tinyml/ops) that alone calls it, where it sits with its operator.

`reference(params, *inputs)` takes the call's input arguments (every argument but the last, the output; None for
an absent optional one) as arrays and returns the output; a `stateful` row's reference also takes the op's state
buffers (`states=`, updated in place), and a `partial` one writes part of the output array it is given (`out=`).
Rows without a reference run only inside a patch stage or the in-place technique, whose calls the reference
executor never sees (it runs the whole-tensor kernels of the lowering).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ops
from .. import reference as r
from ..params import KernelRow


def _conv(depthwise: bool) -> Callable[..., np.ndarray]:
    return lambda p, x, w, b: r.conv(p, x, w, b, depthwise)


def _svdf(bits: int) -> Callable[..., np.ndarray]:
    return lambda p, x, wf, wt, b, *, states: r.svdf(p, x, wf, wt, b, states[0], bits)


def _unary_f32(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, x: fn(x.astype(np.float32))


def _binary_f32(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, a, b: r.binary_f32(p, a, b, fn)


def _logical(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, a, b: fn(*(v != 0 for v in r.broadcast(p, a, b)))


_FC_BAND = ("tml_fully_connected_acc_s8", "tml_fully_connected_finish_s8")
_ROWS = [
    # convolutions and matrix products
    KernelRow("tml_conv_s8", ("tml_conv_s8.c",), _conv(False), strided_output=True),
    KernelRow("tml_conv_s4", ("tml_conv_s8.c",), _conv(False), strided_output=True),
    KernelRow("tml_conv_s16", ("tml_s16.c",), _conv(False)),
    KernelRow("tml_depthwise_conv_s8", ("tml_depthwise_conv_s8.c",), _conv(True), strided_output=True),
    KernelRow("tml_depthwise_conv_s4", ("tml_depthwise_conv_s8.c",), _conv(True), strided_output=True),
    KernelRow("tml_depthwise_conv_s16", ("tml_s16.c",), _conv(True)),
    KernelRow("tml_depthwise_conv_inplace_s8", ("tml_depthwise_conv_inplace_s8.c",)),
    KernelRow("tml_transpose_conv_s8", ("tml_transpose_conv_s8.c",), r.transpose_conv),
    KernelRow("tml_fully_connected_s8", ("tml_fully_connected_s8.c",), r.fully_connected, band=_FC_BAND),
    KernelRow("tml_fully_connected_s4", ("tml_fully_connected_s8.c",), r.fully_connected,
              band=("tml_fully_connected_acc_s4", "tml_fully_connected_finish_s8")),
    KernelRow("tml_fully_connected_s16", ("tml_s16.c",), r.fully_connected),
    KernelRow("tml_fully_connected_acc_s8", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_fully_connected_acc_s4", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_fully_connected_finish_s8", ("tml_fully_connected_s8.c",)),
    KernelRow("tml_batch_matmul_s8", ("tml_batch_matmul_s8.c",), r.batch_matmul),
    KernelRow("tml_svdf_s8", ("tml_svdf_s8.c",), _svdf(16), stateful=True),
    KernelRow("tml_svdf_s8_s8state", ("tml_svdf_s8.c",), _svdf(8), stateful=True),
    KernelRow("tml_lstm_s8", ("tml_lstm_s8.c",),
              lambda p, x, *ws, states: r.lstm(p, x, list(ws[:8]), list(ws[8:12]), *states), stateful=True),
    # pooling and reductions
    KernelRow("tml_avgpool_s8", ("tml_avgpool_s8.c",), r.avgpool, strided_output=True,
              band=("tml_channel_sum_acc_s8", "tml_avgpool_finish_s8")),
    KernelRow("tml_avgpool_s16", ("tml_s16.c",), r.avgpool),
    KernelRow("tml_maxpool_s8", ("tml_maxpool_s8.c",), r.maxpool, strided_output=True),
    KernelRow("tml_maxpool_s16", ("tml_s16.c",), r.maxpool),
    KernelRow("tml_channel_sum_acc_s8", ("tml_avgpool_s8.c",)),
    KernelRow("tml_avgpool_finish_s8", ("tml_avgpool_s8.c",)),
    KernelRow("tml_mean_s8", ("tml_mean_s8.c",), r.mean, band=("tml_channel_sum_acc_s8", "tml_mean_finish_s8")),
    KernelRow("tml_mean_s16", ("tml_s16.c",), r.mean),
    KernelRow("tml_mean_finish_s8", ("tml_mean_s8.c",)),
    KernelRow("tml_reduce_max_s8", ("tml_mean_s8.c",), r.reduce_max),
    KernelRow("tml_arg_max_s8", ("tml_arg_min_max_s8.c",), lambda p, x: r.arg(x, p, np.argmax)),
    KernelRow("tml_arg_min_s8", ("tml_arg_min_max_s8.c",), lambda p, x: r.arg(x, p, np.argmin)),
    KernelRow("tml_l2norm_s8", ("tml_l2norm_s8.c", "tml_fixedpoint.c"), r.l2norm),
    # element-wise arithmetic
    KernelRow("tml_add_s8", ("tml_add_s8.c",), r.add),
    KernelRow("tml_add_s16", ("tml_add_s8.c",), r.add),
    KernelRow("tml_mul_s8", ("tml_mul_s8.c",), r.mul),
    KernelRow("tml_mul_s16", ("tml_mul_s8.c",), r.mul),
    KernelRow("tml_div_s8", ("tml_div_s8.c", "tml_fixedpoint.c"), r.div),
    KernelRow("tml_squared_difference_s8", ("tml_squared_difference_s8.c",), r.squared_difference),
    KernelRow("tml_maximum_s8", ("tml_max_min_s8.c",), r.maximum),
    KernelRow("tml_minimum_s8", ("tml_max_min_s8.c",), r.minimum),
    KernelRow("tml_maximum_s16", ("tml_max_min_s8.c",), r.maximum),
    KernelRow("tml_minimum_s16", ("tml_max_min_s8.c",), r.minimum),
    KernelRow("tml_prelu_s8", ("tml_prelu_s8.c",), r.prelu),
    *(KernelRow(f"tml_{n}_s8", ("tml_compare_s8.c",), r.compare_s8(fn)) for n, fn in r.COMPARISONS),
    *(KernelRow(f"tml_{n}_f32", ("tml_compare_s8.c",), r.compare_f32(fn)) for n, fn in r.COMPARISONS),
    KernelRow("tml_select", ("tml_select.c",), r.select),
    KernelRow("tml_logical_and", ("tml_cast.c",), _logical(np.logical_and)),
    KernelRow("tml_logical_or", ("tml_cast.c",), _logical(np.logical_or)),
    KernelRow("tml_logical_not", ("tml_cast.c",), lambda p, x: x.astype(bool) == 0),
    KernelRow("tml_cast", ("tml_cast.c",), r.cast),
    # activations
    KernelRow("tml_softmax_s8", ("tml_softmax_s8.c", "tml_fixedpoint.c"), r.softmax),
    KernelRow("tml_softmax_s8_s16", ("tml_softmax_s8.c", "tml_fixedpoint.c"), lambda p, x: r.softmax(p, x, 16)),
    KernelRow("tml_softmax_s16", ("tml_s16.c",), r.softmax_s16),
    KernelRow("tml_log_softmax_s8", ("tml_log_softmax_s8.c", "tml_fixedpoint.c"), r.log_softmax),
    KernelRow("tml_logistic_s8", ("tml_logistic_s8.c", "tml_fixedpoint.c"), r.logistic),
    KernelRow("tml_logistic_s16", ("tml_s16.c",), lambda p, x: r.sigmoid_s16(p, x, False)),
    KernelRow("tml_tanh_s8", ("tml_tanh_s8.c", "tml_fixedpoint.c"), r.tanh),
    KernelRow("tml_tanh_s16", ("tml_s16.c",), lambda p, x: r.sigmoid_s16(p, x, True)),
    KernelRow("tml_hard_swish_s8", ("tml_hard_swish_s8.c",), r.hard_swish),
    KernelRow("tml_leaky_relu_s8", ("tml_leaky_relu_s8.c",), r.leaky_relu),
    KernelRow("tml_leaky_relu_s16", ("tml_leaky_relu_s8.c",),
              lambda p, x: np.clip(r.leaky_relu_values(p, x), -32768, 32767)),
    KernelRow("tml_clamp_s8", ("tml_clamp_s8.c",), r.clamp),
    KernelRow("tml_lut_s8", ("tml_lut_s8.c",), r.lut),
    # (re)quantization
    KernelRow("tml_requantize_s8", ("tml_requantize_s8.c",), r.requantize),
    KernelRow("tml_requantize_s16", ("tml_s16.c",), r.requantize),
    KernelRow("tml_requantize_s8_s16", ("tml_s16.c",), r.requantize),
    KernelRow("tml_requantize_s16_s8", ("tml_s16.c",), r.requantize),
    *(KernelRow(f"tml_requantize_{a}_{b}", ("tml_requantize_mixed.c",), r.requantize)
      for a, b in (("u8", "s8"), ("s8", "u8"), ("s8", "s32"), ("s16", "s32"), ("s32", "s8"), ("s32", "s16"))),
    KernelRow("tml_quantize_f32_s8", ("tml_quantize_f32_s8.c",), r.quantize),
    KernelRow("tml_quantize_f32_s16", ("tml_s16.c",), lambda p, x: r.quantize(p, x, wide=True)),
    KernelRow("tml_dequantize_s8_f32", ("tml_dequantize_s8_f32.c",), r.dequantize),
    KernelRow("tml_dequantize_s16_f32", ("tml_s16.c",), r.dequantize),
    KernelRow("tml_dequantize_u8_f32", ("tml_requantize_mixed.c",), r.dequantize),
    # float islands
    KernelRow("tml_neg_f32", ("tml_unary_f32.c",), _unary_f32(np.negative)),
    KernelRow("tml_square_f32", ("tml_unary_f32.c",), _unary_f32(np.square)),
    KernelRow("tml_floor_f32", ("tml_unary_f32.c",), _unary_f32(np.floor)),
    KernelRow("tml_ceil_f32", ("tml_unary_f32.c",), _unary_f32(np.ceil)),
    KernelRow("tml_sqrt_f32", ("tml_unary_f32.c",), _unary_f32(np.sqrt)),
    KernelRow("tml_round_f32", ("tml_unary_f32.c",), _unary_f32(np.rint)),  # half to even, as TFLM's RoundToNearest
    KernelRow("tml_add_f32", ("tml_unary_f32.c",), _binary_f32(np.add)),
    KernelRow("tml_sub_f32", ("tml_unary_f32.c",), _binary_f32(np.subtract)),
    KernelRow("tml_mul_f32", ("tml_unary_f32.c",), _binary_f32(np.multiply)),
    # data movement
    KernelRow("tml_pad_s8", ("tml_pad_s8.c",), r.pad),
    KernelRow("tml_pad_s16", ("tml_s16.c",), r.pad),
    KernelRow("tml_copy", ("tml_copy.c",), r.copy_into, partial=True),
    KernelRow("tml_copy_rect", ("tml_copy_rect.c",)),
    KernelRow("tml_strided_slice", ("tml_strided_slice.c",), r.strided_slice),
    KernelRow("tml_permute", ("tml_permute.c",), r.permute),
    KernelRow("tml_gather", ("tml_gather.c",), r.gather),
    KernelRow("tml_resize_nearest", ("tml_resize_nearest.c",), r.resize_nearest),
    KernelRow("tml_resize_bilinear_s8", ("tml_resize_bilinear_s8.c",), r.resize_bilinear),
    KernelRow("tml_space_to_batch", ("tml_space_batch.c",), lambda p, x: r.space_batch(p, x, True)),
    KernelRow("tml_batch_to_space", ("tml_space_batch.c",), lambda p, x: r.space_batch(p, x, False)),
]
_ROWS += ops.gather("KERNELS").values()  # the kernels an operator family declares with its operators
KERNELS: dict[str, KernelRow] = {row.func: row for row in _ROWS}
assert len(KERNELS) == len(_ROWS), "a kernel has two rows"

