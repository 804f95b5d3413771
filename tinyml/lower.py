"""Lower each IR op to kernel calls with the exact integer parameters TFLM's Prepare() computes.

The parameter dataclasses mirror the C structs of `runtime_c/include/tml_nn.h` field for field (same names,
`int` -> int32_t, `double` -> double, `float` -> float, `tuple[int, ...]` -> `const int32_t *` to a constant array).
The NumPy reference executor and the C code generator both consume these objects, so the two can never
disagree about a multiplier or a shift.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from .errors import TinymlError, UnsupportedOpError
from .fixedpoint import (
    downscale_int32_to_int16,
    frexp_multiplier,
    input_radius,
    inv_sqrt_multiplier_exp,
    mbqm,
    quantize_multiplier,
    sigmoid_table_u16,
    tflite_round,
)
from .ir import (
    NO_TENSOR,
    Activation,
    AxisAttrs,
    BlockAttrs,
    ConcatAttrs,
    ConvAttrs,
    DType,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    Graph,
    LeakyReluAttrs,
    LstmAttrs,
    MatMulAttrs,
    MeanAttrs,
    MirrorPadAttrs,
    Op,
    OpKind,
    PadAttrs,
    Padding,
    PoolAttrs,
    ResizeAttrs,
    SliceAttrs,
    SoftmaxAttrs,
    SpaceBatchAttrs,
    SvdfAttrs,
    Tensor,
    TransposeAttrs,
)

double = float  # annotation marker: a C `double` field
int8 = int  # annotation marker: `tuple[int8, ...]` is a `const int8_t *` table
int16 = int  # and `tuple[int16, ...]` a `const int16_t *` one
uint16 = int  # and `tuple[uint16, ...]` a `const uint16_t *` one


@dataclass(frozen=True)
class ConvParams:
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    k_h: int
    k_w: int
    filter_in_c: int      # input channels per group (== in_c unless grouped)
    depth_multiplier: int  # depthwise only
    stride_h: int
    stride_w: int
    dil_h: int
    dil_w: int
    pad_h: int
    pad_w: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: tuple[int, ...]
    shift: tuple[int, ...]
    out_row_stride: int = 0  # element strides of the output when it is a slice of a larger tensor; 0: dense
    out_px_stride: int = 0


@dataclass(frozen=True)
class FullyConnectedParams:
    batches: int
    accum_depth: int
    out_c: int
    input_offset: int
    filter_offset: int
    output_offset: int
    act_min: int
    act_max: int
    per_channel: int
    multiplier: tuple[int, ...]
    shift: tuple[int, ...]


@dataclass(frozen=True)
class BroadcastParams:
    """Element-wise binary ops over 4-D shapes with per-input strides (0 on broadcast dimensions)."""
    d0: int
    d1: int
    d2: int
    d3: int
    a_stride: tuple[int, ...]
    b_stride: tuple[int, ...]
    a_offset: int
    b_offset: int
    output_offset: int
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    is_sub: int


@dataclass(frozen=True)
class BinaryF32Params:
    """ADD/SUB/MUL on float32 over a 4-D output d with per-operand element strides, clamped to [act_min,
    act_max] (the fused activation)."""
    d: tuple[int, ...]
    a_stride: tuple[int, ...]
    b_stride: tuple[int, ...]
    act_min: float
    act_max: float


@dataclass(frozen=True)
class SpaceBatchParams:  # SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND over NHWC, `pixel` bytes per pixel
    in_b: int
    in_h: int
    in_w: int
    out_b: int
    out_h: int
    out_w: int
    pixel: int
    block_h: int
    block_w: int
    pad_top: int
    pad_left: int
    pad_value: int


@dataclass(frozen=True)
class CastParams:  # CAST (type codes: CAST_CODES) and LOGICAL_NOT (size only)
    size: int
    in_code: int
    out_code: int


@dataclass(frozen=True)
class SelectParams:
    """SELECT_V2 over a 4-D output with per-operand element strides (0 where broadcast)."""
    d: tuple[int, ...]
    c_stride: tuple[int, ...]
    x_stride: tuple[int, ...]
    y_stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class PoolParams:
    batches: int
    in_h: int
    in_w: int
    channels: int
    out_h: int
    out_w: int
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    act_min: int
    act_max: int
    out_row_stride: int = 0  # as ConvParams
    out_px_stride: int = 0


@dataclass(frozen=True)
class MeanParams:
    in_dims: tuple[int, ...]   # 4-D input shape
    reduce: tuple[int, ...]    # 1 where the axis is reduced
    num_elements: int
    same_quant: int            # REDUCE_MAX only (1); MEAN always takes the multiplier path, as TFLM's interpreter
    input_zp: int
    output_zp: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class SoftmaxParams:
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class LogSoftmaxParams:  # LOG_SOFTMAX over the last dimension, int8; output scale 16/256, zero point 127
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    reverse_multiplier: int
    reverse_shift: int  # <= 0 (MultiplyByQuantizedMultiplierSmallerThanOneExp)
    diff_min: int


@dataclass(frozen=True)
class SigmoidParams:  # LOGISTIC and TANH
    size: int
    input_zp: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


@dataclass(frozen=True)
class Sigmoid16Params:  # LOGISTIC and TANH, int16 (TFLM's reference_integer_ops Logistic / Tanh on int16)
    size: int
    input_multiplier: int
    input_left_shift: int
    table: tuple[uint16, ...]  # sigmoid(i / 24) in 0.16, interpolated (fixedpoint.sigmoid_table_u16)


@dataclass(frozen=True)
class HardSwishParams:
    size: int
    input_zp: int
    output_zp: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int


@dataclass(frozen=True)
class LeakyReluParams:
    size: int
    input_zp: int
    output_zp: int
    multiplier_alpha: int
    shift_alpha: int
    multiplier_identity: int
    shift_identity: int


@dataclass(frozen=True)
class RequantizeParams:  # RELU (rescaling clamp) and int8 -> int8 QUANTIZE
    size: int
    input_zp: int
    output_zp: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class ClampParams:  # RELU6 (same quantization in and out)
    size: int
    lo: int
    hi: int


@dataclass(frozen=True)
class PadParams:
    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    before: tuple[int, ...]
    pad_value: int


@dataclass(frozen=True)
class CopyParams:  # one input of a CONCATENATION: `outer` blocks of `block` bytes, every `dst_stride` bytes
    outer: int
    block: int
    dst_stride: int
    dst_offset: int


@dataclass(frozen=True)
class CopyRectParams:  # a rectangle gathered from a strided source into a contiguous buffer
    rows: int
    row_bytes: int
    src_stride: int
    src_offset: int


@dataclass(frozen=True)
class AccumulateParams:
    """One band's share of a reduction summed into int32 accumulators (a patch stage that ends at a classifier):
    FULLY_CONNECTED elements [start, start + count) of the flattened input, or channel sums over `count` pixels."""
    accum_depth: int
    out_c: int
    input_offset: int
    filter_offset: int
    start: int
    count: int
    first: int


@dataclass(frozen=True)
class StridedSliceParams:  # 4-D, any element type
    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    begin: tuple[int, ...]
    stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class PermuteParams:  # TRANSPOSE, SPACE_TO_DEPTH, DEPTH_TO_SPACE: any element type
    """Output element (o0..o5), in order, is input element sum(o_d * in_stride[d])."""
    out_dims: tuple[int, ...]
    in_stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class ResizeNearestParams:
    """RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) copies input pixel (y_index[y], x_index[x]), `pixel` bytes."""
    batches: int
    in_h: int
    in_w: int
    pixel: int
    out_h: int
    out_w: int
    y_index: tuple[int, ...]
    x_index: tuple[int, ...]


@dataclass(frozen=True)
class ResizeBilinearParams:
    """RESIZE_BILINEAR: rows y0/y1 with weight wy (on y1, in 1/1024) per output row; columns likewise."""
    batches: int
    in_h: int
    in_w: int
    channels: int
    out_h: int
    out_w: int
    y0: tuple[int, ...]
    y1: tuple[int, ...]
    wy: tuple[int, ...]
    x0: tuple[int, ...]
    x1: tuple[int, ...]
    wx: tuple[int, ...]


@dataclass(frozen=True)
class TransposeConvParams:
    """TRANSPOSE_CONV (its own type: the planner's convolution rules do not apply to it)."""
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: tuple[int, ...]
    shift: tuple[int, ...]


@dataclass(frozen=True)
class UnaryF32Params:  # NEG, SQUARE in float32 islands
    size: int


@dataclass(frozen=True)
class MatMulParams:
    """BATCH_MATMUL: out[b, m, n] = sum_k (lhs[b, m, k] + lhs_offset) * (rhs[b, k, n] + rhs_offset), requantized.
    Up to three batch dimensions (broadcast through zero strides); element strides express adj_x and adj_y."""
    batch: tuple[int, ...]
    lhs_batch_stride: tuple[int, ...]
    rhs_batch_stride: tuple[int, ...]
    m: int
    n: int
    k: int
    lhs_m_stride: int
    lhs_k_stride: int
    rhs_k_stride: int
    rhs_n_stride: int
    lhs_offset: int
    rhs_offset: int
    output_offset: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class ArgParams:  # ARG_MAX / ARG_MIN over the middle of (outer, axis, inner)
    outer: int
    axis: int
    inner: int


@dataclass(frozen=True)
class GatherParams:  # GATHER: `count` indices into the middle of (outer, axis, inner bytes)
    outer: int
    axis: int
    inner_bytes: int
    count: int


@dataclass(frozen=True)
class L2NormParams:  # L2_NORMALIZATION over the last axis; output scale 1/128, zero point 0
    outer: int
    depth: int
    input_zp: int


@dataclass(frozen=True)
class SoftmaxS16Params:
    """SOFTMAX, int16 (TFLM SoftmaxInt16): 513-entry interpolated tables of exp on [-10, 0] and 1/(1+x) on
    [0, 1]."""
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    exp_lut: tuple[int16, ...]
    recip_lut: tuple[int16, ...]


@dataclass(frozen=True)
class LutParams:
    """An int8 -> int8 function of one value, tabulated at generation time: y = table[(uint8_t)x]."""
    size: int
    table: tuple[int8, ...]


@dataclass(frozen=True)
class QuantizeParams:  # float32 -> int8
    size: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class DequantizeParams:  # int8 -> float32
    size: int
    scale: double
    zero_point: int


@dataclass(frozen=True)
class SvdfParams:  # SVDF, int8 input/output, int16 or int8 activation state (its own buffer, see SvdfAttrs)
    batches: int
    input_size: int
    filters: int
    rank: int
    memory: int
    input_offset: int
    state_zero_point: int
    multiplier1: int  # feature matmul -> state
    shift1: int
    multiplier2: int  # time matmul + bias -> output
    shift2: int
    output_offset: int
    feature_fold: tuple[int, ...]  # per filter: input_offset x the sum of its feature weights (int32 wrap)
    time_fold: tuple[int, ...]     # per filter: -state_zero_point x the sum of its time weights


@dataclass(frozen=True)
class LstmParams:  # UNIDIRECTIONAL_SEQUENCE_LSTM, int8 input/output/hidden state, int16 gates and cell state
    batches: int
    time_steps: int
    input_size: int
    units: int
    time_major: int
    input_offset: int
    hidden_offset: int
    input_multiplier: tuple[int, ...]  # per gate (input, forget, cell, output): input FC -> 2^-12
    input_shift: tuple[int, ...]
    recurrent_multiplier: tuple[int, ...]  # hidden state FC -> 2^-12
    recurrent_shift: tuple[int, ...]
    forget_multiplier: int  # forget gate x cell state -> cell state
    forget_shift: int
    update_multiplier: int  # input gate x cell gate -> cell state
    update_shift: int
    hidden_multiplier: int  # tanh(cell state) x output gate -> hidden state
    hidden_shift: int
    hidden_zero_point: int
    cell_tanh_multiplier: int  # tanh of the cell state: its input rescaling (TFLM's Tanh int16)
    cell_tanh_shift: int
    cell_clip: int  # 0: none
    table: tuple[uint16, ...]  # the sigmoid table of TFLM's int16 Logistic / Tanh
    input_fold: tuple[int, ...]  # per gate and unit ([gate][unit]): input_offset x the sum of the input weights
    recurrent_fold: tuple[int, ...]  # hidden_offset x the sum of the recurrent weights


@dataclass(frozen=True)
class Kernel:
    """One call of a runtime C function: `func(&params, args...)`; args are tensor indices (NO_TENSOR -> NULL).
    `variant` picks among the generated kernels that may replace it (tinyml.kernels); "" is the default one."""
    func: str
    params: object
    args: tuple[int, ...]
    variant: str = ""

    @property
    def struct(self) -> str:
        return {
            ConvParams: "tml_conv_params", FullyConnectedParams: "tml_fc_params",
            BroadcastParams: "tml_broadcast_params", SelectParams: "tml_select_params",
            BinaryF32Params: "tml_binary_f32_params", SpaceBatchParams: "tml_space_batch_params",
            CastParams: "tml_cast_params", LogSoftmaxParams: "tml_log_softmax_params",
            PoolParams: "tml_pool_params", MeanParams: "tml_mean_params",
            SoftmaxParams: "tml_softmax_params", SigmoidParams: "tml_sigmoid_params",
            Sigmoid16Params: "tml_sigmoid16_params",
            HardSwishParams: "tml_hard_swish_params", LeakyReluParams: "tml_leaky_relu_params",
            RequantizeParams: "tml_requantize_params", ClampParams: "tml_clamp_params", PadParams: "tml_pad_params",
            CopyParams: "tml_copy_params", CopyRectParams: "tml_copy_rect_params",
            AccumulateParams: "tml_accumulate_params",
            StridedSliceParams: "tml_strided_slice_params", PermuteParams: "tml_permute_params",
            ResizeNearestParams: "tml_resize_nearest_params", ResizeBilinearParams: "tml_resize_bilinear_params",
            TransposeConvParams: "tml_transpose_conv_params", LutParams: "tml_lut_params",
            UnaryF32Params: "tml_unary_f32_params", MatMulParams: "tml_matmul_params", ArgParams: "tml_arg_params",
            GatherParams: "tml_gather_params", L2NormParams: "tml_l2norm_params",
            SoftmaxS16Params: "tml_softmax_s16_params",
            QuantizeParams: "tml_quantize_params", DequantizeParams: "tml_dequantize_params",
            SvdfParams: "tml_svdf_params", LstmParams: "tml_lstm_params",
        }[type(self.params)]


def param_fields(params: object) -> list[tuple[str, str, object]]:
    """(name, annotation, value) for each field of a parameter dataclass, in declaration order."""
    return [(f.name, str(f.type), getattr(params, f.name)) for f in fields(params)]  # type: ignore[arg-type]


# ---- helpers shared by several ops ------------------------------------------------------------------------------

QMIN, QMAX = -128, 127
# operators with 16x8 kernels (int16 activations, int8 weights); RESHAPE and CONCATENATION move any type
WIDE_OPS = frozenset({OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.ADD, OpKind.SUB,
                      OpKind.MUL, OpKind.AVERAGE_POOL_2D, OpKind.MAX_POOL_2D, OpKind.MEAN, OpKind.SOFTMAX, OpKind.PAD,
                      OpKind.LOGISTIC, OpKind.TANH, OpKind.RELU, OpKind.RELU6, OpKind.LEAKY_RELU, OpKind.MAXIMUM,
                      OpKind.MINIMUM})


def activation_range(act: Activation, t: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: real bounds quantized with float32 division and std::round."""
    scale, zp = t.quant.scalar() if t.quant else (1.0, 0)
    qmin, qmax = (-32768, 32767) if t.dtype is DType.INT16 else (QMIN, QMAX)

    def q(f: float) -> int:
        return zp + tflite_round(float(np.float32(f) / np.float32(scale)))
    if act is Activation.NONE:
        return qmin, qmax
    if act is Activation.RELU:
        return max(qmin, q(0.0)), qmax
    if act is Activation.RELU6:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    return max(qmin, q(-1.0)), min(qmax, q(1.0))


def same_padding(padding: Padding, in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    eff = (k - 1) * dil + 1
    if padding is Padding.VALID:
        return 0
    return max(0, (out_size - 1) * stride + eff - in_size) // 2


def out_size(padding: Padding, in_size: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (in_size + stride - 1) // stride if padding is Padding.SAME else (in_size + stride - eff) // stride


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise UnsupportedOpError(f"expected a 4-D NHWC tensor, got shape {list(shape)}")
    return shape  # type: ignore[return-value]


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UnsupportedOpError(msg)


def _same_quant(op: Op, x: Tensor, y: Tensor) -> None:
    _require(x.dtype is y.dtype, f"{op.kind.value} needs the same type on input and output, got {x.dtype.value} "
             f"and {y.dtype.value}")
    if x.quant is not None and y.quant is not None:
        _require(x.scale == y.scale and x.zero_point == y.zero_point,
                 f"{op.kind.value} needs the same quantization on input and output (as TFLM requires)")


def _wsuffix(w: Tensor) -> str:
    """Kernel name suffix for the weight width: s8, or s4 for packed int4 weights."""
    return "s4" if w.dtype is DType.INT4 else "s8"


def _int8(*ts: Tensor | None) -> None:
    for t in ts:
        if t is not None and t.dtype is DType.INT16 and t.quant is not None:
            raise UnsupportedOpError(f"tensor '{t.name}' is int16 (16x8 quantization), and this combination of "
                                     "types is not supported: tinyml's int16 kernels take int16 on every activation "
                                     f"input and output of {', '.join(sorted(k.value for k in WIDE_OPS))} (SOFTMAX "
                                     "also int8 -> int16, QUANTIZE every pair TFLM's kernel takes)")
        if t is not None and (t.dtype is not DType.INT8 or t.quant is None):
            raise UnsupportedOpError(f"tensor '{t.name}' is {t.dtype.value}"
                                     f"{'' if t.quant else ' without quantization'}; this op needs quantized int8")


def _act_type(op: Op, *ts: Tensor) -> str:
    """'s16' when every tensor is int16 with zero point 0 (16x8 quantization, as TFLM requires), else the int8
    check: 's8'."""
    if all(t.dtype is DType.INT16 for t in ts):
        for t in ts:
            _require(t.quant is not None and all(z == 0 for z in t.quant.zero_point),
                     f"int16 tensor '{t.name}' of {op.kind.value} needs a zero point of 0 (as TFLM requires)")
        _require(op.kind in WIDE_OPS, f"{op.kind.value} does not support int16 activations yet (16x8 covers "
                 f"{', '.join(sorted(k.value for k in WIDE_OPS))})")
        return "s16"
    _int8(*ts)
    return "s8"


def _per_channel_multipliers(in_t: Tensor, w: Tensor, out_t: Tensor, channels: int) -> tuple[tuple[int, ...],
                                                                                         tuple[int, ...]]:
    assert w.quant is not None
    scales = w.quant.scale if len(w.quant.scale) > 1 else w.quant.scale * channels
    if len(scales) != channels:
        raise TinymlError(f"weights '{w.name}' carry {len(scales)} scales for {channels} output channels")
    ms = [quantize_multiplier(in_t.scale * s / out_t.scale) for s in scales]
    return tuple(m for m, _ in ms), tuple(s for _, s in ms)


# ---- per-op lowering ----------------------------------------------------------------------------------------------

def _conv(g: Graph, op: Op) -> list[Kernel]:
    x, w, b = g.op_inputs(op)[:3] + [None] * (3 - len(op.inputs[:3]))
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConvAttrs) and x is not None and w is not None
    act = _act_type(op, x, y)
    _require(w.dtype in (DType.INT8, DType.INT4) and w.quant is not None,
             f"{op.kind.value} weights '{w.name}' must be int8 or int4")
    if act == "s16":
        _require(w.dtype is DType.INT8, f"16x8 {op.kind.value} needs int8 weights, got {w.dtype.value}")
        _require(b is None or b.dtype is DType.INT64, f"16x8 {op.kind.value} bias must be int64 (as TFLM's)")
    else:
        _require(b is None or b.dtype is DType.INT32, f"{op.kind.value} bias must be int32 (int8 activations)")
    _require(all(z == 0 for z in w.quant.zero_point), f"{op.kind.value} weights must be symmetric (zero point 0)")
    a = op.attrs
    n, ih, iw, ic = _nhwc(x.shape)
    _, oh, ow, oc = _nhwc(y.shape)
    depthwise = op.kind is OpKind.DEPTHWISE_CONV_2D
    if depthwise:
        _, kh, kw, woc = w.shape
        fic = 1
        dm = oc // ic
        _require(woc == oc and dm * ic == oc, f"depthwise filter shape {list(w.shape)} does not match channels")
    else:
        woc, kh, kw, fic = w.shape
        dm = 1
        _require(woc == oc and ic % fic == 0, f"conv filter shape {list(w.shape)} does not match {list(x.shape)}")
    _require(oh == out_size(a.padding, ih, kh, a.stride_h, a.dilation_h)
             and ow == out_size(a.padding, iw, kw, a.stride_w, a.dilation_w),
             f"{op.kind.value} output shape {list(y.shape)} is inconsistent with its input and attributes")
    mult, shift = _per_channel_multipliers(x, w, y, oc)
    lo, hi = activation_range(a.activation, y)
    p = ConvParams(n, ih, iw, ic, oh, ow, oc, kh, kw, fic, dm, a.stride_h, a.stride_w, a.dilation_h, a.dilation_w,
                   same_padding(a.padding, ih, kh, a.stride_h, a.dilation_h, oh),
                   same_padding(a.padding, iw, kw, a.stride_w, a.dilation_w, ow),
                   -x.zero_point, y.zero_point, lo, hi, mult, shift)
    func = ("tml_depthwise_conv_" if depthwise else "tml_conv_") + (act if act == "s16" else _wsuffix(w))
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def _fully_connected(g: Graph, op: Op) -> list[Kernel]:
    ins = g.op_inputs(op)
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, FullyConnectedAttrs) and x is not None and w is not None
    act = _act_type(op, x, y)
    _require(w.dtype in (DType.INT8, DType.INT4) and w.quant is not None and w.is_const,
             "FULLY_CONNECTED weights must be constant int8 or int4")
    if act == "s16":
        _require(w.dtype is DType.INT8, f"16x8 FULLY_CONNECTED needs int8 weights, got {w.dtype.value}")
        _require(b is None or b.dtype is DType.INT64, "16x8 FULLY_CONNECTED bias must be int64 (as TFLM's)")
    else:
        _require(b is None or b.dtype is DType.INT32, "FULLY_CONNECTED bias must be int32 (int8 activations)")
    out_c, depth = w.shape
    batches = x.size // depth
    _require(batches * depth == x.size, f"FULLY_CONNECTED input {list(x.shape)} is not a multiple of {depth}")
    per_channel = w.quant.per_channel
    if per_channel:
        mult, shift = _per_channel_multipliers(x, w, y, out_c)
    else:
        m, s = quantize_multiplier(x.scale * w.scale / y.scale)
        mult, shift = (m,), (s,)
    lo, hi = activation_range(op.attrs.activation, y)
    p = FullyConnectedParams(batches, depth, out_c, -x.zero_point, -w.zero_point, y.zero_point, lo, hi,
                             int(per_channel), mult, shift)
    func = "tml_fully_connected_" + (act if act == "s16" else _wsuffix(w))
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def broadcast_strides(shape: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of `shape` read as `out` (both right-aligned to 4-D), 0 where broadcast."""
    s4 = (1,) * (4 - len(shape)) + tuple(shape)
    strides, acc = [0] * 4, 1
    for d in range(3, -1, -1):
        strides[d] = acc if s4[d] != 1 else 0
        acc *= s4[d]
    return tuple(strides)


def _broadcast_operands(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """The two int8 (or 16x8 int16) operands and the output of an element-wise op, and the BroadcastParams fields
    they fix."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None
    _act_type(op, a_t, b_t, y)
    _require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    for t in (a_t, b_t):
        t4 = (1,) * (4 - len(t.shape)) + tuple(t.shape)
        _require(len(t.shape) <= 4 and all(d in (1, o) for d, o in zip(t4, out4)),
                 f"{op.kind.value} cannot broadcast {list(t.shape)} to {list(y.shape)}")
    common = dict(d0=out4[0], d1=out4[1], d2=out4[2], d3=out4[3], a_stride=broadcast_strides(a_t.shape, out4),
                  b_stride=broadcast_strides(b_t.shape, out4), a_offset=-a_t.zero_point, b_offset=-b_t.zero_point,
                  output_offset=y.zero_point)
    return a_t, b_t, y, common


FLOAT_RANGES = {Activation.NONE: (-3.4028234663852886e38, 3.4028234663852886e38), Activation.RELU:
                (0.0, 3.4028234663852886e38), Activation.RELU6: (0.0, 6.0), Activation.RELU_N1_TO_1: (-1.0, 1.0)}


def _binary_f32(g: Graph, op: Op) -> list[Kernel]:
    """ADD, SUB, MUL of float32 operands in a float island (TFLM's float kernels: one IEEE single-precision
    operation per element, then the fused activation's min/max), 4-D broadcasting."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None and isinstance(op.attrs, ElementwiseAttrs)
    _require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    lo, hi = FLOAT_RANGES[op.attrs.activation]
    p = BinaryF32Params(out4, broadcast_strides(a_t.shape, out4), broadcast_strides(b_t.shape, out4), lo, hi)
    return [Kernel(f"tml_{op.kind.value.lower()}_f32", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _binary(g: Graph, op: Op) -> list[Kernel]:
    ts = [g.tensor(i) for i in (*op.inputs[:2], op.outputs[0])]
    if all(t.dtype is DType.FLOAT32 for t in ts):
        return _binary_f32(g, op)
    a_t, b_t, y, common = _broadcast_operands(g, op)
    assert isinstance(op.attrs, ElementwiseAttrs)
    lo, hi = activation_range(op.attrs.activation, y)
    common.update(act_min=lo, act_max=hi)
    if op.kind is OpKind.MUL:
        m, s = quantize_multiplier(a_t.scale * b_t.scale / y.scale)
        p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                            output_multiplier=m, output_shift=s, is_sub=0)
        func = "tml_mul_s16" if y.dtype is DType.INT16 else "tml_mul_s8"
        return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.outputs[0]))]
    wide = y.dtype is DType.INT16
    left_shift = 15 if wide else 20
    twice_max = 2 * max(a_t.scale, b_t.scale)
    am, ash = quantize_multiplier(a_t.scale / twice_max)
    bm, bsh = quantize_multiplier(b_t.scale / twice_max)
    om, osh = quantize_multiplier(twice_max / ((1 << left_shift) * y.scale))
    p = BroadcastParams(**common, left_shift=left_shift, a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh,
                        output_multiplier=om, output_shift=osh, is_sub=int(op.kind is OpKind.SUB))
    return [Kernel("tml_add_s16" if wide else "tml_add_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _pool(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, PoolAttrs)
    act = _act_type(op, x, y)
    _require(x.quant == y.quant or (x.scale == y.scale and x.zero_point == y.zero_point),
             f"{op.kind.value} needs the same quantization on input and output")
    a = op.attrs
    n, ih, iw, c = _nhwc(x.shape)
    _, oh, ow, _ = _nhwc(y.shape)
    lo, hi = activation_range(a.activation, y)
    p = PoolParams(n, ih, iw, c, oh, ow, a.filter_h, a.filter_w, a.stride_h, a.stride_w,
                   same_padding(a.padding, ih, a.filter_h, a.stride_h, 1, oh),
                   same_padding(a.padding, iw, a.filter_w, a.stride_w, 1, ow), lo, hi)
    func = ("tml_avgpool_" if op.kind is OpKind.AVERAGE_POOL_2D else "tml_maxpool_") + act
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def _mean(g: Graph, op: Op) -> list[Kernel]:
    """MEAN, SUM (QuantizedMeanOrSum with compute_sum: no 1/n, never the plain path) and REDUCE_MAX."""
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, MeanAttrs)
    act = _act_type(op, x, y)
    _require(len(x.shape) <= 4, f"{op.kind.value} supports up to 4-D inputs, got {list(x.shape)}")
    pad = 4 - len(x.shape)
    dims = (1,) * pad + tuple(x.shape)
    red = tuple(1 if (d - pad) in op.attrs.axes else 0 for d in range(4))
    n = int(np.prod([dims[d] for d in range(4) if red[d]]))
    same = int(x.scale == y.scale and x.zero_point == y.zero_point)
    if op.kind is OpKind.REDUCE_MAX:
        _require(bool(same), "REDUCE_MAX needs the same quantization on input and output (as TFLM requires)")
        return [Kernel("tml_reduce_max_s8", MeanParams(dims, red, n, 1, x.zero_point, y.zero_point, 0, 0),
                       (op.inputs[0], op.outputs[0]))]
    m, s = quantize_multiplier(x.scale / y.scale)
    if op.kind is OpKind.SUM:
        p = MeanParams(dims, red, n, 0, x.zero_point, y.zero_point, m, s)
        return [Kernel("tml_mean_s8", p, (op.inputs[0], op.outputs[0]))]
    if n > 0:  # fold 1/n into the multiplier as QuantizedMeanOrSum does
        shift = min(n.bit_length() - 1, 32, 31 + s)
        m = ((m << shift) // n) if m >= 0 else -((-m << shift) // n)
        s -= shift
    # TFLM's EvalIntegerMean runs QuantizedMeanOrSum (the multiplier with 1/n folded in, rounding) even when the
    # input and output quantization are equal: the tflite-micro interpreter does (older TFLM sources took a
    # truncating integer mean there; MobileNetV2's global MEAN over 4x4 differed by 1 in 102 of 1280 channels)
    p = MeanParams(dims, red, n, 0, x.zero_point, y.zero_point, int(m), int(s))
    return [Kernel("tml_mean_" + act, p, (op.inputs[0], op.outputs[0]))]


def int16_lut(func: Callable[[np.ndarray], np.ndarray], in_scale: float, in_zp: int, out_scale: float,
              out_zp: int) -> tuple[int, ...]:
    """TFLite LUTPopulate<int16_t>: 512 samples of func over the int16 input range, each biased by half its
    midpoint interpolation error, and the value at the top; float32 arithmetic as TFLM's, func correctly rounded
    to float32 (what glibc's expf and a float division give)."""
    f32 = np.float32
    in_min = f32(f32(in_scale) * f32(-32768 - in_zp))
    in_max = f32(f32(in_scale) * f32(32767 - in_zp))
    out_min = f32(f32(out_scale) * f32(-32768 - out_zp))
    out_max = f32(f32(out_scale) * f32(32767 - out_zp))
    step = f32(f32(in_max - in_min) / f32(512))
    half = f32(step / f32(2))
    inv = f32(f32(65536) / f32(out_max - out_min))

    def rnd(v: np.ndarray) -> np.ndarray:  # std::round on float32: half away from zero
        v = np.asarray(v, f32)
        return (np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)).astype(f32)
    i = np.arange(512).astype(f32)
    at = (in_min + (i * step).astype(f32)).astype(f32)
    val = func(at)
    mid = func((at + half).astype(f32))
    nxt = func((in_min + ((i + f32(1)) * step).astype(f32)).astype(f32))
    sample = rnd(val * inv)
    interp = rnd(((nxt * inv).astype(f32) + rnd(val * inv)).astype(f32) / f32(2))
    err = (interp - rnd(mid * inv)).astype(f32)
    bias = rnd(err / f32(2))
    table = np.clip((sample - bias).astype(f32), -32768, 32767).astype(np.int64).tolist()
    table.append(int(np.clip(rnd(func(np.asarray([in_max], f32)) * inv)[0], -32768, 32767)))
    return tuple(int(v) for v in table)


def _f32_exp(v: np.ndarray) -> np.ndarray:
    return np.asarray([np.float32(np.exp(np.float64(t))) for t in np.atleast_1d(v)], np.float32)


def _f32_one_over_one_plus(v: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.asarray(v, np.float32))).astype(np.float32)


def _softmax(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, SoftmaxAttrs)
    if x.dtype is DType.INT16:
        _act_type(op, x, y)
        _require(abs(y.scale - 1 / 32768) < 1e-12, "int16 SOFTMAX output must have scale 1/32768 and zero point 0 "
                 "(as TFLM requires)")
        m, shift = quantize_multiplier(x.scale * op.attrs.beta / (10.0 / 65535.0))
        depth = x.shape[-1]
        f32 = np.float32
        p = SoftmaxS16Params(x.size // depth, depth, m, shift,  # TFLM's tables: exp on [-10, 0], 1/(1+x) on [0, 1]
                             int16_lut(_f32_exp, float(f32(10) / f32(65535)), 32767, float(f32(2) / f32(65535)), 0),
                             int16_lut(_f32_one_over_one_plus, float(f32(1) / f32(65535)), -32768,
                                       float(f32(2) / f32(65535)), 0))
        return [Kernel("tml_softmax_s16", p, (op.inputs[0], op.outputs[0]))]
    _require(x.dtype is DType.INT8 and x.quant is not None and y.dtype in (DType.INT8, DType.INT16) and
             y.quant is not None, f"SOFTMAX from {x.dtype.value} to {y.dtype.value} is not supported (TFLM's kernel "
             "takes int8 -> int8, int8 -> int16 and int16 -> int16, quantized)")
    if y.dtype is DType.INT16:
        _require(y.zero_point == -32768 and abs(y.scale - 1 / 65536) <= 0.001 / 65536,
                 "SOFTMAX from int8 to int16 needs output scale 1/65536 and zero point -32768 (as TFLM requires)")
    else:
        _require(y.zero_point == -128 and abs(y.scale - 1 / 256) < 1e-9,
                 "int8 SOFTMAX output must have scale 1/256 and zero point -128 (as TFLM requires)")
    integer_bits = 5
    real = min(op.attrs.beta * x.scale * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    m, left_shift = quantize_multiplier(real)
    _require(left_shift >= 0, "SOFTMAX input scale too small")
    diff_min = -input_radius(integer_bits, left_shift)
    depth = x.shape[-1]
    p = SoftmaxParams(x.size // depth, depth, m, left_shift, diff_min)
    return [Kernel("tml_softmax_s8_s16" if y.dtype is DType.INT16 else "tml_softmax_s8", p,
                   (op.inputs[0], op.outputs[0]))]


def _log_softmax(g: Graph, op: Op) -> list[Kernel]:
    """LOG_SOFTMAX, int8 (TFLM: PreprocessLogSoftmaxScalingExp with beta 1 and 5 integer bits; output scale
    16/256, zero point 127)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _int8(x, y)
    _require(y.zero_point == 127 and y.scale == 16.0 / 256, "int8 LOG_SOFTMAX output must have scale 16/256 and "
             "zero point 127 (as TFLM requires)")
    m, left_shift = quantize_multiplier(min(float(x.scale) * (1 << 26), (1 << 31) - 1.0))
    _require(left_shift >= 0, "LOG_SOFTMAX input scale too small")
    rm, rs = quantize_multiplier((1 << (31 - left_shift)) / m)
    _require(rs <= 0, "LOG_SOFTMAX input scale too large")
    depth = x.shape[-1]
    p = LogSoftmaxParams(x.size // depth, depth, m, left_shift, rm, rs, -input_radius(5, left_shift))
    return [Kernel("tml_log_softmax_s8", p, (op.inputs[0], op.outputs[0]))]


def _sigmoid(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    if x.dtype is DType.INT16:
        _act_type(op, x, y)
        # TFLM's Prepare: the input scale times 2^12 (3 integer bits) times 3 (the table's x is 24ths, the kernel's
        # index 32nds: a factor 3/4), doubled up to above 2^14 with the doublings counted as a right shift
        mult, shift = float(x.scale) * 4096.0 * 3.0, 0
        while mult <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            mult *= 2.0
        _require(int(mult) * 32768 < (1 << 31), f"int16 {op.kind.value} input scale {x.scale:g} is too large (TFLM's "
                 "kernel would overflow 32 bits)")
        p16 = Sigmoid16Params(x.size, int(mult), shift, sigmoid_table_u16())
        return [Kernel("tml_logistic_s16" if op.kind is OpKind.LOGISTIC else "tml_tanh_s16", p16,
                       (op.inputs[0], op.outputs[0]))]
    _int8(x, y)
    if op.kind is OpKind.LOGISTIC:
        _require(y.zero_point == -128, "int8 LOGISTIC output zero point must be -128 (as TFLM requires)")
    else:
        _require(y.zero_point == 0, "int8 TANH output zero point must be 0 (as TFLM requires)")
    m, left_shift = frexp_multiplier(x.scale * float(1 << (31 - 4)))
    p = SigmoidParams(x.size, x.zero_point, input_radius(4, left_shift), m, left_shift)
    func = "tml_logistic_s8" if op.kind is OpKind.LOGISTIC else "tml_tanh_s8"
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def _hard_swish(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    _int8(x, y)
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(x.scale)
    om, oe = quantize_multiplier(float(hires / f32(y.scale)))
    rm, re_ = quantize_multiplier(float(hires / (f32(3.0) / f32(32768.0))))
    _require(oe <= 0, "HARD_SWISH output scale too small")
    p = HardSwishParams(x.size, x.zero_point, y.zero_point, downscale_int32_to_int16(rm), re_,
                        downscale_int32_to_int16(om), oe)
    return [Kernel("tml_hard_swish_s8", p, (op.inputs[0], op.outputs[0]))]


def _leaky_relu(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, LeakyReluAttrs)
    act = _act_type(op, x, y)
    f32 = np.float32
    ma, sa = quantize_multiplier(float(f32(x.scale) * f32(op.attrs.alpha) / f32(y.scale)))
    mi, si = quantize_multiplier(float(f32(x.scale) / f32(y.scale)))
    p = LeakyReluParams(x.size, x.zero_point, y.zero_point, ma, sa, mi, si)
    return [Kernel("tml_leaky_relu_" + act, p, (op.inputs[0], op.outputs[0]))]


def _relu(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    if _act_type(op, x, y) == "s16":  # TFLM's int16 ReluQuantized / Relu6Quantized (zero points 0)
        qmin, qmax = TYPE_RANGES[DType.INT16]
        if op.kind is OpKind.RELU6:  # a clamp of the input as it is: an identity requantization
            six = max(qmin, min(qmax, x.zero_point + tflite_round(float(np.float32(6.0) / np.float32(x.scale)))))
            p = RequantizeParams(x.size, 0, 0, 1 << 30, 1, x.zero_point, six)  # FloatToQuantizedType saturates
        else:
            m, s = quantize_multiplier(x.scale / y.scale)
            p = RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, max(qmin, y.zero_point), qmax)
        return [Kernel("tml_requantize_s16", p, (op.inputs[0], op.outputs[0]))]
    if op.kind is OpKind.RELU6:
        lo = x.zero_point
        hi = max(QMIN, min(QMAX, x.zero_point + tflite_round(float(np.float32(6.0) / np.float32(x.scale)))))
        return [Kernel("tml_clamp_s8", ClampParams(x.size, lo, hi), (op.inputs[0], op.outputs[0]))]
    m, s = quantize_multiplier(x.scale / y.scale)
    lo = max(QMIN, y.zero_point + tflite_round(float(np.float32(0.0) / np.float32(y.scale))))
    p = RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, lo, QMAX)
    return [Kernel("tml_requantize_s8", p, (op.inputs[0], op.outputs[0]))]


def _pad(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, PadAttrs)
    act = _act_type(op, x, y)
    _require(len(x.shape) <= 4, f"PAD supports up to 4-D tensors, got {list(x.shape)}")
    k = 4 - len(x.shape)
    before = (0,) * k + tuple(b for b, _ in op.attrs.paddings)
    if len(op.inputs) > 2 and op.inputs[2] != NO_TENSOR:
        cv = g.tensor(op.inputs[2])
        _require(cv.data is not None, "PADV2 with a non-constant pad value is not supported")
        pad_value = int(cv.data.reshape(-1)[0])  # type: ignore[union-attr]
    else:
        pad_value = y.zero_point
    p = PadParams((1,) * k + tuple(x.shape), (1,) * k + tuple(y.shape), before, pad_value)
    return [Kernel("tml_pad_" + act, p, (op.inputs[0], op.outputs[0]))]


def _concat(g: Graph, op: Op) -> list[Kernel]:
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConcatAttrs)
    ax = op.attrs.axis
    _require(op.attrs.activation is Activation.NONE, "CONCATENATION with a fused activation is not supported")
    esize = y.dtype.bits // 8
    outer = int(np.prod(y.shape[:ax], dtype=np.int64))
    inner = int(np.prod(y.shape[ax + 1:], dtype=np.int64)) * esize
    kernels, off = [], 0
    for i in op.inputs:
        t = g.tensor(i)
        if y.quant is not None:
            _require(t.quant is not None and t.scale == y.scale and t.zero_point == y.zero_point,
                     "CONCATENATION inputs must share the output's quantization (as TFLM requires)")
        block = t.shape[ax] * inner
        kernels.append(Kernel("tml_copy", CopyParams(outer, block, y.shape[ax] * inner, off), (i, op.outputs[0])))
        off += block
    return kernels


def _strided_slice(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, SliceAttrs)
    _require(len(x.shape) <= 4, f"STRIDED_SLICE supports up to 4-D tensors, got {list(x.shape)}")
    _require(x.dtype is y.dtype and (x.quant is None or (x.scale == y.scale and x.zero_point == y.zero_point)),
             "STRIDED_SLICE needs the same type and quantization on input and output (as TFLM requires)")
    _require(int(np.prod(a.size)) == y.size, f"STRIDED_SLICE of {list(x.shape)} gives {list(a.size)} elements, "
             f"but its output is {list(y.shape)}")
    k = 4 - len(x.shape)
    p = StridedSliceParams((1,) * k + tuple(x.shape), (1,) * k + tuple(a.size), (0,) * k + tuple(a.begin),
                           (1,) * k + tuple(a.strides), x.dtype.bits // 8)
    return [Kernel("tml_strided_slice", p, (op.inputs[0], op.outputs[0]))]


# QUANTIZE between integer types: TFLM's Requantize for the pairs its kernel takes (input, output) -> function
REQUANTIZE_FUNCS = {
    (DType.INT8, DType.INT8): "tml_requantize_s8", (DType.INT8, DType.INT16): "tml_requantize_s8_s16",
    (DType.INT16, DType.INT8): "tml_requantize_s16_s8", (DType.INT16, DType.INT16): "tml_requantize_s16",
    (DType.UINT8, DType.INT8): "tml_requantize_u8_s8", (DType.INT8, DType.UINT8): "tml_requantize_s8_u8",
    (DType.INT8, DType.INT32): "tml_requantize_s8_s32", (DType.INT16, DType.INT32): "tml_requantize_s16_s32",
    (DType.INT32, DType.INT8): "tml_requantize_s32_s8", (DType.INT32, DType.INT16): "tml_requantize_s32_s16",
}
QUANTIZE_FLOAT_FUNCS = {DType.INT8: "tml_quantize_f32_s8", DType.INT16: "tml_quantize_f32_s16"}
DEQUANTIZE_FUNCS = {DType.INT8: "tml_dequantize_s8_f32", DType.INT16: "tml_dequantize_s16_f32",
                    DType.UINT8: "tml_dequantize_u8_f32"}
TYPE_RANGES = {DType.INT8: (QMIN, QMAX), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
               DType.INT32: (-(1 << 31), (1 << 31) - 1)}


def _pairs(pairs: object) -> str:
    return ", ".join(f"{a.value} -> {b.value}" for a, b in pairs)  # type: ignore[attr-defined]


def _quantize(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    supported = f"{_pairs(REQUANTIZE_FUNCS)}, {_pairs((DType.FLOAT32, t) for t in QUANTIZE_FLOAT_FUNCS)}"
    _require(y.quant is not None and not y.quant.per_channel, f"QUANTIZE from {x.dtype.value} to {y.dtype.value} "
             "needs one scale and zero point on its output (as TFLM requires)")
    if x.dtype is DType.FLOAT32:
        _require(y.dtype in QUANTIZE_FLOAT_FUNCS, f"QUANTIZE from float32 to {y.dtype.value} is not supported (TFLM's "
                 f"kernel takes {supported})")
        return [Kernel(QUANTIZE_FLOAT_FUNCS[y.dtype], QuantizeParams(x.size, y.scale, y.zero_point),
                       (op.inputs[0], op.outputs[0]))]
    _require((x.dtype, y.dtype) in REQUANTIZE_FUNCS and x.quant is not None,
             f"QUANTIZE from {x.dtype.value}{'' if x.quant else ' (not quantized)'} to {y.dtype.value} is not "
             f"supported (TFLM's kernel takes {supported}, each quantized)")
    # TFLM's Requantize: MultiplyByQuantizedMultiplier of the input less its zero point by the scale ratio (a
    # double), plus the output zero point, saturated to the output type
    m, s = quantize_multiplier(x.scale / y.scale)
    lo, hi = TYPE_RANGES[y.dtype]
    return [Kernel(REQUANTIZE_FUNCS[x.dtype, y.dtype], RequantizeParams(x.size, x.zero_point, y.zero_point, m, s, lo,
                                                                          hi), (op.inputs[0], op.outputs[0]))]


def _dequantize(g: Graph, op: Op) -> list[Kernel]:
    x = g.tensor(op.inputs[0])
    y = g.tensor(op.outputs[0])
    _require(y.dtype is DType.FLOAT32 and x.dtype in DEQUANTIZE_FUNCS and x.quant is not None,
             f"DEQUANTIZE from {x.dtype.value}{'' if x.quant else ' (not quantized)'} to {y.dtype.value} is not "
             f"supported (TFLM's kernel takes {_pairs((t, DType.FLOAT32) for t in DEQUANTIZE_FUNCS)}, quantized)")
    return [Kernel(DEQUANTIZE_FUNCS[x.dtype], DequantizeParams(x.size, x.scale, x.zero_point),
                   (op.inputs[0], op.outputs[0]))]


def _max_min(g: Graph, op: Op) -> list[Kernel]:
    """MAXIMUM/MINIMUM: TFLM compares the stored int8 values (the converter gives operands and output one
    quantization), so no arithmetic on them."""
    _, _, y, common = _broadcast_operands(g, op)
    wide = y.dtype is DType.INT16
    lo, hi = TYPE_RANGES[y.dtype]
    p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                        output_multiplier=0, output_shift=0, act_min=lo, act_max=hi, is_sub=0)
    func = ("tml_maximum" if op.kind is OpKind.MAXIMUM else "tml_minimum") + ("_s16" if wide else "_s8")
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _compare(g: Graph, op: Op) -> list[Kernel]:
    """EQUAL ... GREATER_EQUAL on int8 (TFLM's *WithScaling): each operand less its zero point, shifted left by
    8 and scaled by its own scale (QuantizeMultiplierSmallerThanOneExp), then compared; bool out. On float32
    operands (a float island: the converter compares DEQUANTIZEd values) the values are compared as they are."""
    a_t, b_t = g.op_inputs(op)[:2]
    y = g.tensor(op.outputs[0])
    assert a_t is not None and b_t is not None
    floats = a_t.dtype is DType.FLOAT32 and b_t.dtype is DType.FLOAT32
    _require((floats or (a_t.dtype is DType.INT8 and b_t.dtype is DType.INT8 and a_t.quant is not None and
                         b_t.quant is not None)) and y.dtype is DType.BOOL,
             f"{op.kind.value} of {a_t.dtype.value} and {b_t.dtype.value} into {y.dtype.value} is not supported "
             "(quantized int8 operands, or float32 ones in a float island, into bool are)")
    _require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    if floats:  # IEEE comparison of the values as they are
        p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(a_t.shape, out4),
                            broadcast_strides(b_t.shape, out4), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
        return [Kernel(f"tml_{op.kind.value.lower()}_f32", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]
    (am, ash), (bm, bsh) = (quantize_multiplier(float(t.scale)) for t in (a_t, b_t))
    _require(ash <= 0 and bsh <= 0, f"{op.kind.value} needs operand scales below 1 (TFLM's kernel requires it)")
    p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(a_t.shape, out4),
                        broadcast_strides(b_t.shape, out4), -a_t.zero_point, -b_t.zero_point, 0, 8, am, ash, bm,
                        bsh, 0, 0, 0, 1, 0)
    return [Kernel(f"tml_{op.kind.value.lower()}_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


CAST_CODES = {DType.INT8: 0, DType.UINT8: 1, DType.INT16: 2, DType.INT32: 3, DType.FLOAT32: 4, DType.BOOL: 5}


def _cast(g: Graph, op: Op) -> list[Kernel]:
    """CAST on activations: TFLM's static_cast per element (integers wrap, to float32 rounds to nearest, to bool
    is != 0); float32 to an integer type is refused (undefined for out-of-range values, in TFLM's C++ too)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _require(x.dtype in CAST_CODES and y.dtype in CAST_CODES and not (
        x.dtype is DType.FLOAT32 and y.dtype not in (DType.FLOAT32, DType.BOOL)),
        f"CAST from {x.dtype.value} to {y.dtype.value} is not supported (between int8, uint8, int16, int32, "
        "float32 and bool, except float32 to an integer type, whose out-of-range values C leaves undefined)")
    return [Kernel("tml_cast", CastParams(x.size, CAST_CODES[x.dtype], CAST_CODES[y.dtype]),
                   (op.inputs[0], op.outputs[0]))]


def _logical(g: Graph, op: Op) -> list[Kernel]:
    """LOGICAL_AND / LOGICAL_OR (bool, 4-D broadcasting) and LOGICAL_NOT."""
    ins = [g.tensor(i) for i in op.inputs]
    y = g.tensor(op.outputs[0])
    _require(all(t.dtype is DType.BOOL for t in ins + [y]), f"{op.kind.value} takes bool tensors, got "
             f"{', '.join(t.dtype.value for t in ins)} -> {y.dtype.value}")
    if op.kind is OpKind.LOGICAL_NOT:
        return [Kernel("tml_logical_not", CastParams(y.size, 5, 5), (op.inputs[0], op.outputs[0]))]
    _require(len(y.shape) <= 4, f"{op.kind.value} supports up to 4-D tensors, got {list(y.shape)}")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    p = BroadcastParams(out4[0], out4[1], out4[2], out4[3], broadcast_strides(ins[0].shape, out4),
                        broadcast_strides(ins[1].shape, out4), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
    return [Kernel(f"tml_{op.kind.value.lower()}", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _select(g: Graph, op: Op) -> list[Kernel]:
    """SELECT_V2: x where the condition holds, else y, with broadcasting; values are copied (TFLM does not
    requantize them either)."""
    c_t, x_t, y_t = g.op_inputs(op)[:3]
    out = g.tensor(op.outputs[0])
    assert c_t is not None and x_t is not None and y_t is not None
    _require(c_t.dtype is DType.BOOL and x_t.dtype is out.dtype and y_t.dtype is out.dtype and
             out.dtype.bits % 8 == 0, f"SELECT_V2 with a {c_t.dtype.value} condition and {x_t.dtype.value}, "
             f"{y_t.dtype.value} operands into {out.dtype.value} is not supported (a bool condition and operands of "
             "the output's type are)")
    _require(len(out.shape) <= 4, f"SELECT_V2 supports up to 4-D tensors, got {list(out.shape)}")
    out4 = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    p = SelectParams(out4, broadcast_strides(c_t.shape, out4), broadcast_strides(x_t.shape, out4),
                     broadcast_strides(y_t.shape, out4), out.dtype.bits // 8)
    return [Kernel("tml_select", p, (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))]


def _prelu(g: Graph, op: Op) -> list[Kernel]:
    """PRELU (TFLM CalculatePreluParams): x >= 0 -> x * (s_x / s_y); else x * alpha * (s_x * s_alpha / s_y),
    each through its own quantized multiplier. The a_* fields carry the first, the b_* fields the second."""
    x, alpha, y, common = _broadcast_operands(g, op)
    _require(alpha.quant is not None and len(alpha.quant.scale) == 1,
             f"PRELU needs a per-tensor quantized alpha, got {len(alpha.quant.scale) if alpha.quant else 0} scales")
    m1, s1 = quantize_multiplier(x.scale / y.scale)
    m2, s2 = quantize_multiplier(x.scale * alpha.scale / y.scale)
    p = BroadcastParams(**common, left_shift=0, a_multiplier=m1, a_shift=s1, b_multiplier=m2, b_shift=s2,
                        output_multiplier=0, output_shift=0, act_min=QMIN, act_max=QMAX, is_sub=0)
    return [Kernel("tml_prelu_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _permute_params(out6: list[int], strides6: list[int], esize: int) -> PermuteParams:
    k = 6 - len(out6)
    return PermuteParams((1,) * k + tuple(out6), (0,) * k + tuple(strides6), esize)


def _permute(g: Graph, op: Op) -> list[Kernel]:
    """TRANSPOSE, SPACE_TO_DEPTH and DEPTH_TO_SPACE: the output read from the input through up to six
    (dimension, stride) pairs; only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"{op.kind.value} needs a whole-byte type, got {x.dtype.value}")
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


def _mirror_pad(g: Graph, op: Op) -> list[Kernel]:
    """MIRROR_PAD of the height and width of an NHWC tensor (or the time axis of an [N, T, C] one): every output
    pixel copies one input pixel, through RESIZE_NEAREST_NEIGHBOR's kernel with mirrored row and column tables;
    only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, MirrorPadAttrs)
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"MIRROR_PAD needs a whole-byte type, got {x.dtype.value}")
    _require(len(x.shape) in (3, 4) and a.paddings[0] == (0, 0) and a.paddings[-1] == (0, 0),
             f"MIRROR_PAD is supported on the spatial dimensions of a 3-D or 4-D tensor (paddings "
             f"{[list(p) for p in a.paddings]} of {list(x.shape)})")
    shape, pads = (tuple(x.shape), a.paddings) if len(x.shape) == 4 else \
        ((x.shape[0], x.shape[1], 1, x.shape[2]), (*a.paddings[:2], (0, 0), a.paddings[2]))
    n, ih, iw, c = shape
    limit = 0 if a.symmetric else 1
    _require(all(b <= d - limit and e <= d - limit for (b, e), d in ((pads[1], ih), (pads[2], iw))),
             f"MIRROR_PAD's paddings {[list(p) for p in a.paddings]} exceed what "
             f"{'SYMMETRIC' if a.symmetric else 'REFLECT'} allows for {list(x.shape)}")
    p = ResizeNearestParams(n, ih, iw, c * (x.dtype.bits // 8), ih + sum(pads[1]), iw + sum(pads[2]),
                            mirror_index(ih, *pads[1], a.symmetric), mirror_index(iw, *pads[2], a.symmetric))
    return [Kernel("tml_resize_nearest", p, (op.inputs[0], op.outputs[0]))]


def _space_batch(g: Graph, op: Op) -> list[Kernel]:
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND (3-D as 4-D with a width of 1): only bytes move, as in TFLM; the
    padding of SPACE_TO_BATCH_ND is a raw 0, not the zero point: the `tflite-micro` interpreter memsets its
    padding with an output offset it leaves at 0 (checked on a model whose padded values reach the output)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, SpaceBatchAttrs)
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"{op.kind.value} needs a whole-byte type, got {x.dtype.value}")
    xs, ys = (tuple(t.shape) if len(t.shape) == 4 else (t.shape[0], t.shape[1], 1, t.shape[2]) for t in (x, y))
    block = tuple(a.block) + (1,) * (2 - len(a.block))
    pads = tuple(a.pads) + ((0, 0),) * (2 - len(a.pads))
    p = SpaceBatchParams(xs[0], xs[1], xs[2], ys[0], ys[1], ys[2], xs[3] * (x.dtype.bits // 8), block[0], block[1],
                         pads[0][0], pads[1][0], 0)
    func = "tml_space_to_batch" if op.kind is OpKind.SPACE_TO_BATCH_ND else "tml_batch_to_space"
    return [Kernel(func, p, (op.inputs[0], op.outputs[0]))]


def _broadcast_to(g: Graph, op: Op) -> list[Kernel]:
    """BROADCAST_TO: the output read from the input with stride 0 along the broadcast dimensions (tml_permute);
    only bytes move, as in TFLM."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"BROADCAST_TO needs a whole-byte type, got {x.dtype.value}")
    _require(len(y.shape) <= 6, f"BROADCAST_TO supports up to 6 dimensions, got {list(y.shape)}")
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


def _resize_nearest(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"RESIZE_NEAREST_NEIGHBOR needs a whole-byte type, got {x.dtype.value}")
    n, ih, iw, c = _nhwc(x.shape)
    _, oh, ow, _ = _nhwc(y.shape)
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
        _require(a < in_size and -512 <= scaled - (a << 10) <= 1024,
                 f"RESIZE_BILINEAR from {in_size} to {out_size} reads outside its input")
        lo.append(a)
        hi.append(b)
        wt.append(scaled - (a << 10))
    return tuple(lo), tuple(hi), tuple(wt)


def _resize_bilinear(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, ResizeAttrs)
    _int8(x, y)
    _same_quant(op, x, y)
    n, ih, iw, c = _nhwc(x.shape)
    _, oh, ow, _ = _nhwc(y.shape)
    ys = bilinear_coords(oh, ih, a.align_corners, a.half_pixel_centers)
    xs = bilinear_coords(ow, iw, a.align_corners, a.half_pixel_centers)
    p = ResizeBilinearParams(n, ih, iw, c, oh, ow, *ys, *xs)
    return [Kernel("tml_resize_bilinear_s8", p, (op.inputs[0], op.outputs[0]))]


def _transpose_conv(g: Graph, op: Op) -> list[Kernel]:
    """TFLM transpose_conv.cc: padding from ComputePaddingHeightWidth over the *output* size, per-channel
    multipliers as CONV_2D, the fused activation's range."""
    ins = g.op_inputs(op)
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    y = g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ConvAttrs) and x is not None and w is not None
    _int8(x, y)
    _require(w.dtype is DType.INT8 and w.quant is not None and w.is_const,
             f"TRANSPOSE_CONV weights '{w.name}' must be constant int8")
    _require(b is None or b.dtype is DType.INT32, "TRANSPOSE_CONV bias must be int32 (int8 activations)")
    _require(all(z == 0 for z in w.quant.zero_point), "TRANSPOSE_CONV weights must be symmetric (zero point 0)")
    a = op.attrs
    n, ih, iw, ic = _nhwc(x.shape)
    _, oh, ow, oc = _nhwc(y.shape)
    woc, kh, kw, wic = w.shape
    _require(woc == oc and wic == ic, f"TRANSPOSE_CONV filter shape {list(w.shape)} does not match {list(x.shape)} "
             f"-> {list(y.shape)}")
    mult, shift = _per_channel_multipliers(x, w, y, oc)
    lo, hi = activation_range(a.activation, y)
    pad_h = same_padding(a.padding, oh, kh, a.stride_h, 1, out_size(a.padding, oh, kh, a.stride_h, 1))
    pad_w = same_padding(a.padding, ow, kw, a.stride_w, 1, out_size(a.padding, ow, kw, a.stride_w, 1))
    p = TransposeConvParams(n, ih, iw, ic, oh, ow, oc, kh, kw, a.stride_h, a.stride_w, pad_h, pad_w, -x.zero_point,
                            y.zero_point, lo, hi, mult, shift)
    bias = op.inputs[2] if len(op.inputs) > 2 else NO_TENSOR
    return [Kernel("tml_transpose_conv_s8", p, (op.inputs[0], op.inputs[1], bias, op.outputs[0]))]


def abs_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM AbsEvalQuantized for every int8 input (elementwise.cc: a rescale only when the scales differ)."""
    f32 = np.float32
    rescale = f32(s_in) != f32(s_out)
    m, sh = quantize_multiplier(float(f32(s_in) / f32(s_out))) if rescale else (0, 0)
    out = []
    for v in range(-128, 128):
        a = abs(v - zp_in)
        out.append(int(np.clip((int(mbqm(a, m, sh)) if rescale else a) + zp_out, QMIN, QMAX)))
    return tuple(out)


def rsqrt_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM RsqrtEvalQuantized for every int8 input: 1/sqrt(v - zp) through GetInvSqrtQuantizedMultiplierExp and
    two MultiplyByQuantizedMultiplier steps with a 2^20 headroom; 127 at v == zp. Below the zero point TFLM's
    Invoke fails (RSQRT of a negative value); the table holds 127 there too."""
    f32 = np.float32
    m, sh = quantize_multiplier(1.0 / float(f32(np.sqrt(f32(s_in))) * f32(s_out)))
    out = []
    for v in range(-128, 128):
        x = v - zp_in
        if x <= 0:
            out.append(QMAX)
            continue
        inv, inv_shift = inv_sqrt_multiplier_exp(x, -1)
        data = int(mbqm(1, inv, inv_shift + 20))
        out.append(int(np.clip(int(mbqm(data, m, sh - 20)) + zp_out, QMIN, QMAX)))
    return tuple(out)


def elu_table(s_in: float, zp_in: int, s_out: float, zp_out: int) -> tuple[int, ...]:
    """TFLM's ELU for every int8 input (PopulateLookupTable in float32: dequantize, exp(x) - 1 below zero, times
    1/s_out, round half away from zero, plus the zero point, saturated); exp correctly rounded to float32, as
    glibc's expf gives it."""
    f32 = np.float32
    inv = f32(1) / f32(s_out)
    out = []
    for v in range(-128, 128):
        d = f32(s_in) * f32(v - zp_in)
        t = (_f32_exp(d)[0] - f32(1)) if d < 0 else d
        r = f32(tflite_round(float(f32(t * inv))))
        out.append(int(np.clip(int(f32(r + f32(zp_out))), QMIN, QMAX)))
    return tuple(out)


LUT_TABLES = {OpKind.ABS: abs_table, OpKind.RSQRT: rsqrt_table, OpKind.ELU: elu_table}


def _lut(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _int8(x, y)
    _require(len(x.quant.scale) == 1 and len(y.quant.scale) == 1, f"{op.kind.value} needs per-tensor quantization")
    _require(x.size == y.size, f"{op.kind.value} input {list(x.shape)} and output {list(y.shape)} differ in size")
    table = LUT_TABLES[op.kind](x.scale, x.zero_point, y.scale, y.zero_point)
    return [Kernel("tml_lut_s8", LutParams(x.size, table[128:] + table[:128]), (op.inputs[0], op.outputs[0]))]


def _squared_difference(g: Graph, op: Op) -> list[Kernel]:
    """TFLM squared_difference.cc (int8): both inputs scaled to twice the larger input scale with a left shift of
    7, the difference squared, and requantized with (2 * max scale)^2 / (2^14 * output scale)."""
    a_t, b_t, y, common = _broadcast_operands(g, op)
    twice_max = 2.0 * max(a_t.scale, b_t.scale)
    m1, s1 = quantize_multiplier(a_t.scale / twice_max)
    m2, s2 = quantize_multiplier(b_t.scale / twice_max)
    mo, so = quantize_multiplier(twice_max * twice_max / float(np.float32((1 << 14) * np.float32(y.scale))))
    p = BroadcastParams(**common, left_shift=7, a_multiplier=m1, a_shift=s1, b_multiplier=m2, b_shift=s2,
                        output_multiplier=mo, output_shift=so, act_min=QMIN, act_max=QMAX, is_sub=0)
    return [Kernel("tml_squared_difference_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _div(g: Graph, op: Op) -> list[Kernel]:
    """DIV (TFLM div.cc, int8): a reciprocal of the divisor per element (GetReciprocal), the quotient with the
    numerator's headroom, then the multiplier s_1 / (s_2 * s_out) and the fused activation."""
    a_t, b_t, y, common = _broadcast_operands(g, op)
    assert isinstance(op.attrs, ElementwiseAttrs)
    m, s = quantize_multiplier(a_t.scale / (b_t.scale * y.scale))
    _require(s <= 23, f"DIV with the multiplier s1 / (s2 * s_out) = {a_t.scale / (b_t.scale * y.scale):.3g} is not "
             "supported (TFLM's arithmetic is undefined beyond 2^23)")
    lo, hi = activation_range(op.attrs.activation, y)
    p = BroadcastParams(**common, left_shift=0, a_multiplier=0, a_shift=0, b_multiplier=0, b_shift=0,
                        output_multiplier=m, output_shift=s, act_min=lo, act_max=hi, is_sub=0)
    return [Kernel("tml_div_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _l2norm(g: Graph, op: Op) -> list[Kernel]:
    """L2_NORMALIZATION (TFLM reference_integer_ops::L2Normalization): 1/sqrt of the row's sum of squares by
    GetInvSqrtQuantizedMultiplierExp, output in 1/128 steps."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    assert isinstance(op.attrs, ElementwiseAttrs)
    _int8(x, y)
    _require(y.scale == 1 / 128 and y.zero_point == 0, "L2_NORMALIZATION output must have scale 1/128 and zero "
             "point 0 (as TFLM requires)")
    _require(op.attrs.activation is Activation.NONE, "L2_NORMALIZATION with a fused activation is not supported "
             "(TFLM refuses it too)")
    depth = x.shape[-1]
    return [Kernel("tml_l2norm_s8", L2NormParams(x.size // depth, depth, x.zero_point),
                   (op.inputs[0], op.outputs[0]))]


def _float_unary(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _require(x.dtype is DType.FLOAT32 and y.dtype is DType.FLOAT32 and x.size == y.size,
             f"{op.kind.value} runs in float32 (as in TFLM), between a DEQUANTIZE and a QUANTIZE; got "
             f"{x.dtype.value} -> {y.dtype.value}")
    return [Kernel(f"tml_{op.kind.value.lower()}_f32", UnaryF32Params(x.size), (op.inputs[0], op.outputs[0]))]


def _batch_matmul(g: Graph, op: Op) -> list[Kernel]:
    """TFLM batch_matmul.cc (int8): per-tensor quantization, multiplier s_lhs * s_rhs / s_out, no activation."""
    lhs, rhs = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
    y = g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, MatMulAttrs)
    _int8(lhs, rhs, y)
    _require(all(len(t.quant.scale) == 1 for t in (lhs, rhs, y)), "BATCH_MATMUL needs per-tensor quantization")
    _require(2 <= len(lhs.shape) <= 5 and 2 <= len(rhs.shape) <= 5, "BATCH_MATMUL needs 2-D to 5-D operands")
    m, k = lhs.shape[-2:][::-1] if a.adj_x else lhs.shape[-2:]
    k2, n = rhs.shape[-2:][::-1] if a.adj_y else rhs.shape[-2:]
    _require(k == k2, f"BATCH_MATMUL cannot multiply {list(lhs.shape)} by {list(rhs.shape)}")
    lb = (1,) * (5 - len(lhs.shape)) + tuple(lhs.shape[:-2])
    rb = (1,) * (5 - len(rhs.shape)) + tuple(rhs.shape[:-2])
    _require(all(p == q or 1 in (p, q) for p, q in zip(lb, rb)),
             f"BATCH_MATMUL cannot broadcast the batch dimensions of {list(lhs.shape)} and {list(rhs.shape)}")
    batch = tuple(max(p, q) for p, q in zip(lb, rb))
    _require(y.size == int(np.prod(batch)) * m * n, f"BATCH_MATMUL output {list(y.shape)} is not "
             f"{list(batch)} x {m} x {n}")

    def strides(dims: tuple[int, ...], block: int) -> tuple[int, ...]:
        out, acc = [0, 0, 0], block
        for d in (2, 1, 0):
            out[d] = acc if dims[d] != 1 else 0
            acc *= dims[d]
        return tuple(out)
    mult, shift = quantize_multiplier(lhs.scale * rhs.scale / y.scale)
    p = MatMulParams(batch[:3], strides(lb, m * k), strides(rb, k * n), m, n, k,
                     1 if a.adj_x else k, m if a.adj_x else 1, 1 if a.adj_y else n, k if a.adj_y else 1,
                     -lhs.zero_point, -rhs.zero_point, y.zero_point, mult, shift)
    return [Kernel("tml_batch_matmul_s8", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _arg(g: Graph, op: Op) -> list[Kernel]:
    """ARG_MAX / ARG_MIN (TFLM arg_min_max.cc): the first index of the largest (smallest) stored int8 value along
    the axis, as int32."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, AxisAttrs)
    _int8(x)
    _require(y.dtype is DType.INT32, f"{op.kind.value} output must be int32, got {y.dtype.value} (TFLM does not "
             "run an int64 output either; convert with output_type=tf.int32)")
    xs = tuple(x.shape)
    p = ArgParams(int(np.prod(xs[:a.axis])), xs[a.axis], int(np.prod(xs[a.axis + 1:])))
    return [Kernel(f"tml_{op.kind.value.lower()}_s8", p, (op.inputs[0], op.outputs[0]))]


def _gather(g: Graph, op: Op) -> list[Kernel]:
    """GATHER (TFLM gather.cc, batch_dims 0): out[outer, i, inner] = params[outer, indices[i], inner], bytes
    only. Constant indices are checked here; an index a model input supplies that is out of range gives zeros
    (TFLM's Invoke fails)."""
    x, idx, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    a = op.attrs
    assert isinstance(a, AxisAttrs)
    _same_quant(op, x, y)
    _require(x.dtype.bits % 8 == 0, f"GATHER needs a whole-byte type, got {x.dtype.value}")
    _require(idx.dtype is DType.INT32, f"GATHER indices must be int32, got {idx.dtype.value}")
    xs = tuple(x.shape)
    if idx.data is not None:
        bad = [int(v) for v in np.asarray(idx.data).reshape(-1) if not 0 <= v < xs[a.axis]]
        _require(not bad, f"GATHER index {bad[:1]} is outside [0, {xs[a.axis]})")
    p = GatherParams(int(np.prod(xs[:a.axis])), xs[a.axis], int(np.prod(xs[a.axis + 1:])) * (x.dtype.bits // 8),
                     idx.size)
    return [Kernel("tml_gather", p, (op.inputs[0], op.inputs[1], op.outputs[0]))]


def _alias(g: Graph, op: Op) -> list[Kernel]:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    _require(x.size == y.size, f"RESHAPE from {list(x.shape)} to {list(y.shape)} changes the element count")
    return []  # an alias: the output shares the input's storage


def offset_fold(weights: np.ndarray | None, offset: int) -> tuple[int, ...]:
    """Per row of `weights`: offset x the row's sum, wrapped to int32. sum(w * (x + offset)) is sum(w * x) plus
    this, modulo 2^32 as TFLM's int32 accumulators, so a kernel can run plain dot products."""
    assert weights is not None
    rows = np.asarray(weights, np.int64).reshape(weights.shape[0], -1).sum(axis=1) * offset
    return tuple(int(v) for v in ((rows + (1 << 31)) % (1 << 32) - (1 << 31)))


def _svdf(g: Graph, op: Op) -> list[Kernel]:
    """SVDF (TFLM's EvalIntegerSvdfReference): shift the state left by one, write the feature matmul requantized
    to the state type into each filter's newest slot, then per unit the time matmul over `rank` filters plus
    bias, requantized to int8. The two multipliers come from float32 products, as TFLM's Prepare computes them.
    TFLM's integer SVDF ignores the fused activation (so does tinyml). The state buffer is keyed by the output."""
    a = op.attrs
    assert isinstance(a, SvdfAttrs)
    x, wf, wt, b = (g.tensor(i) if i != NO_TENSOR else None for i in (tuple(op.inputs) + (NO_TENSOR,) * 4)[:4])
    y = g.tensor(op.outputs[0])
    assert x is not None and wf is not None and wt is not None
    _require(x.dtype is DType.INT8 and y.dtype is DType.INT8 and wf.dtype is DType.INT8,
             f"SVDF is supported with int8 input, output and feature weights (here {x.dtype.value}, "
             f"{y.dtype.value}, {wf.dtype.value}); float and hybrid SVDF are not")
    _require(a.state_dtype in (DType.INT16, DType.INT8) and wt.dtype is a.state_dtype,
             f"SVDF needs time weights and activation state of one type, int16 or int8 (here "
             f"{wt.dtype.value} and {a.state_dtype.value})")
    _require(b is not None and b.dtype is DType.INT32 and b.quant is not None,
             "an int8 SVDF needs an int32 bias (TFLM's kernel reads the bias's scale and fails without one)")
    assert b is not None
    for t in (x, wf, wt, y):
        _require(t.quant is not None and not t.quant.per_channel,
                 f"SVDF tensor '{t.name}' must have one (per-tensor) scale")
    f32 = np.float32
    s_state = f32(a.state_scale)
    _require(bool(s_state > 0), "SVDF's activation state has no quantization scale")
    _require(abs(float(b.scale) - float(f32(s_state * f32(wt.scale)))) < 1e-5,
             f"SVDF bias scale {b.scale:g} is not activation state scale x time weights scale (TFLM requires it)")
    m1, s1 = quantize_multiplier(float(f32(f32(f32(x.scale) * f32(wf.scale)) / s_state)))
    m2, s2 = quantize_multiplier(float(f32(f32(s_state * f32(wt.scale)) / f32(y.scale))))
    filters, memory = wt.shape
    p = SvdfParams(x.shape[0], x.shape[1], filters, a.rank, memory, -x.zero_point, a.state_zero_point, m1, s1, m2,
                   s2, y.zero_point, offset_fold(wf.data, -x.zero_point), offset_fold(wt.data, -a.state_zero_point))
    func = "tml_svdf_s8" if a.state_dtype is DType.INT16 else "tml_svdf_s8_s8state"
    return [Kernel(func, p, (op.inputs[0], op.inputs[1], op.inputs[2], op.inputs[3], op.outputs[0]))]


def _lstm(g: Graph, op: Op) -> list[Kernel]:
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
    _require(x.dtype is DType.INT8 and y.dtype is DType.INT8, f"UNIDIRECTIONAL_SEQUENCE_LSTM is supported with int8 "
             f"input and output (here {x.dtype.value} and {y.dtype.value}); float and hybrid LSTMs are not")
    for t in weights:
        assert t is not None
        _require(t.dtype is DType.INT8 and t.quant is not None and not t.quant.per_channel,
                 f"LSTM weights '{t.name}' must be int8 with one (per-tensor) scale")
    for t in biases:
        assert t is not None
        _require(t.dtype is DType.INT32, f"LSTM bias '{t.name}' must be int32")
    _require(x.quant is not None and y.quant is not None, "the LSTM's input and output must be quantized")
    _require(a.activation == "tanh", "the LSTM's cell gate must use tanh")
    gate_scale, act_scale = 2.0 ** -12, 2.0 ** -15  # TFLM: FC outputs in Q3.12, nonlinearity outputs in Q0.15
    fc_in = [quantize_multiplier(float(x.scale) * float(w.scale) / gate_scale)  # type: ignore[union-attr]
             for w in weights[:4]]
    fc_rec = [quantize_multiplier(float(a.hidden_scale) * float(w.scale) / gate_scale)  # type: ignore[union-attr]
              for w in weights[4:]]
    cs = float(np.float32(a.cell_scale))
    power = int(tflite_round(float(np.float32(np.log(np.float32(cs)) * np.float32(1.0 / np.log(np.float32(2.0)))))))
    left = 15 + power - 3  # TFLM's Tanh(cell_state_scale_power): a power-of-two input rescaling
    tanh_m, tanh_s = (3 << left, 0) if left >= 0 else (3, -left)
    _require(tanh_m * 32768 < (1 << 31), f"the LSTM's cell state scale {cs:g} is too large")
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


LOWERINGS: dict[OpKind, Callable[[Graph, Op], list[Kernel]]] = {
    OpKind.CONV_2D: _conv, OpKind.DEPTHWISE_CONV_2D: _conv, OpKind.FULLY_CONNECTED: _fully_connected,
    OpKind.ADD: _binary, OpKind.SUB: _binary, OpKind.MUL: _binary,
    OpKind.AVERAGE_POOL_2D: _pool, OpKind.MAX_POOL_2D: _pool, OpKind.MEAN: _mean, OpKind.SOFTMAX: _softmax,
    OpKind.LOGISTIC: _sigmoid, OpKind.TANH: _sigmoid, OpKind.HARD_SWISH: _hard_swish,
    OpKind.LEAKY_RELU: _leaky_relu, OpKind.RELU: _relu, OpKind.RELU6: _relu, OpKind.PAD: _pad,
    OpKind.CONCATENATION: _concat, OpKind.STRIDED_SLICE: _strided_slice, OpKind.QUANTIZE: _quantize,
    OpKind.DEQUANTIZE: _dequantize,
    OpKind.RESHAPE: _alias,
    OpKind.TRANSPOSE: _permute, OpKind.SPACE_TO_DEPTH: _permute, OpKind.DEPTH_TO_SPACE: _permute,
    OpKind.RESIZE_NEAREST_NEIGHBOR: _resize_nearest, OpKind.MAXIMUM: _max_min, OpKind.MINIMUM: _max_min,
    OpKind.PRELU: _prelu, OpKind.RESIZE_BILINEAR: _resize_bilinear, OpKind.TRANSPOSE_CONV: _transpose_conv,
    OpKind.ABS: _lut, OpKind.RSQRT: _lut, OpKind.ELU: _lut, OpKind.SQUARED_DIFFERENCE: _squared_difference,
    OpKind.NEG: _float_unary, OpKind.SQUARE: _float_unary, OpKind.FLOOR: _float_unary, OpKind.CEIL: _float_unary,
    OpKind.SQRT: _float_unary, OpKind.ROUND: _float_unary, OpKind.BATCH_MATMUL: _batch_matmul,
    OpKind.DIV: _div, OpKind.L2_NORMALIZATION: _l2norm, OpKind.SUM: _mean, OpKind.REDUCE_MAX: _mean,
    OpKind.ARG_MAX: _arg, OpKind.ARG_MIN: _arg, OpKind.GATHER: _gather, OpKind.SVDF: _svdf,
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: _lstm, OpKind.MIRROR_PAD: _mirror_pad, OpKind.BROADCAST_TO: _broadcast_to,
    OpKind.EQUAL: _compare, OpKind.NOT_EQUAL: _compare, OpKind.LESS: _compare, OpKind.LESS_EQUAL: _compare,
    OpKind.GREATER: _compare, OpKind.GREATER_EQUAL: _compare, OpKind.SELECT_V2: _select,
    OpKind.SPACE_TO_BATCH_ND: _space_batch, OpKind.BATCH_TO_SPACE_ND: _space_batch,
    OpKind.LOG_SOFTMAX: _log_softmax, OpKind.CAST: _cast, OpKind.LOGICAL_AND: _logical, OpKind.LOGICAL_OR: _logical,
    OpKind.LOGICAL_NOT: _logical,
}


def lower_op(g: Graph, index: int) -> list[Kernel]:
    op = g.ops[index]
    try:
        if op.kind not in LOWERINGS:  # SHAPE, REDUCE_PROD, CAST, ...: computed at import when constant
            raise UnsupportedOpError(f"{op.kind.value} is supported only where its inputs are constants (tinyml "
                                     "computes it at import); here it reads an activation")
        return LOWERINGS[op.kind](g, op)
    except UnsupportedOpError as e:
        raise UnsupportedOpError(f"operator {index} ({op.kind.value} {_signature(g, op)}, output "
                                 f"'{g.tensor(op.outputs[0]).name}'): {e}") from None


def _signature(g: Graph, op: Op) -> str:
    """The operator's activation types, 'int8 -> int16' (constant inputs left out)."""
    ins = [g.tensor(i).dtype.value for i in op.inputs if i != NO_TENSOR and not g.tensor(i).is_const]
    return f"{', '.join(ins) or 'constants'} -> {', '.join(g.tensor(o).dtype.value for o in op.outputs)}"


def lower(g: Graph) -> list[list[Kernel]]:
    """Every op's kernel calls; an op that cannot be lowered is reported together with all the others."""
    out: list[list[Kernel]] = []
    errors: list[str] = []
    for k in range(len(g.ops)):
        try:
            out.append(lower_op(g, k))
        except UnsupportedOpError as e:
            errors.append(str(e))
    if len(errors) == 1:
        raise UnsupportedOpError(errors[0])
    if errors:
        raise UnsupportedOpError(f"{len(errors)} operators cannot be compiled: " + "; ".join(errors[:20])
                                 + (f"; and {len(errors) - 20} more" if len(errors) > 20 else ""))
    return out
