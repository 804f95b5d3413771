"""The parameters of every runtime C kernel: one frozen dataclass per struct of `runtime_c/include/tml_nn.h`,
field for field (same names, `int` -> int32_t, `double` -> double, `float` -> float, `tuple[int, ...]` -> `const
int32_t *` to a constant array), its struct's name in `C_STRUCT`; and `Kernel`, one call of a C kernel. The NumPy
reference executor and the C code generator both consume these objects, so the two can never disagree about a
multiplier or a shift."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

double = float  # annotation marker: a C `double` field
int8 = int  # annotation marker: `tuple[int8, ...]` is a `const int8_t *` table
int16 = int  # and `tuple[int16, ...]` a `const int16_t *` one
uint16 = int  # and `tuple[uint16, ...]` a `const uint16_t *` one


double = float  # annotation marker: a C `double` field


int8 = int  # annotation marker: `tuple[int8, ...]` is a `const int8_t *` table


int16 = int  # and `tuple[int16, ...]` a `const int16_t *` one


uint16 = int  # and `tuple[uint16, ...]` a `const uint16_t *` one


@dataclass(frozen=True)
class ConvParams:
    C_STRUCT: ClassVar[str] = "tml_conv_params"
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
    C_STRUCT: ClassVar[str] = "tml_fc_params"
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
    C_STRUCT: ClassVar[str] = "tml_broadcast_params"
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
    C_STRUCT: ClassVar[str] = "tml_binary_f32_params"
    d: tuple[int, ...]
    a_stride: tuple[int, ...]
    b_stride: tuple[int, ...]
    act_min: float
    act_max: float


@dataclass(frozen=True)
class SpaceBatchParams:  # SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND over NHWC, `pixel` bytes per pixel
    C_STRUCT: ClassVar[str] = "tml_space_batch_params"
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
    C_STRUCT: ClassVar[str] = "tml_cast_params"
    size: int
    in_code: int
    out_code: int


@dataclass(frozen=True)
class SelectParams:
    """SELECT_V2 over a 4-D output with per-operand element strides (0 where broadcast)."""
    C_STRUCT: ClassVar[str] = "tml_select_params"
    d: tuple[int, ...]
    c_stride: tuple[int, ...]
    x_stride: tuple[int, ...]
    y_stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class PoolParams:
    C_STRUCT: ClassVar[str] = "tml_pool_params"
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
    C_STRUCT: ClassVar[str] = "tml_mean_params"
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
    C_STRUCT: ClassVar[str] = "tml_softmax_params"
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class LogSoftmaxParams:  # LOG_SOFTMAX over the last dimension, int8; output scale 16/256, zero point 127
    C_STRUCT: ClassVar[str] = "tml_log_softmax_params"
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    reverse_multiplier: int
    reverse_shift: int  # <= 0 (MultiplyByQuantizedMultiplierSmallerThanOneExp)
    diff_min: int


@dataclass(frozen=True)
class SigmoidParams:  # LOGISTIC and TANH
    C_STRUCT: ClassVar[str] = "tml_sigmoid_params"
    size: int
    input_zp: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


@dataclass(frozen=True)
class Sigmoid16Params:  # LOGISTIC and TANH, int16 (TFLM's reference_integer_ops Logistic / Tanh on int16)
    C_STRUCT: ClassVar[str] = "tml_sigmoid16_params"
    size: int
    input_multiplier: int
    input_left_shift: int
    table: tuple[uint16, ...]  # sigmoid(i / 24) in 0.16, interpolated (fixedpoint.sigmoid_table_u16)


@dataclass(frozen=True)
class HardSwishParams:
    C_STRUCT: ClassVar[str] = "tml_hard_swish_params"
    size: int
    input_zp: int
    output_zp: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int


@dataclass(frozen=True)
class LeakyReluParams:
    C_STRUCT: ClassVar[str] = "tml_leaky_relu_params"
    size: int
    input_zp: int
    output_zp: int
    multiplier_alpha: int
    shift_alpha: int
    multiplier_identity: int
    shift_identity: int


@dataclass(frozen=True)
class RequantizeParams:  # RELU (rescaling clamp) and int8 -> int8 QUANTIZE
    C_STRUCT: ClassVar[str] = "tml_requantize_params"
    size: int
    input_zp: int
    output_zp: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class ClampParams:  # RELU6 (same quantization in and out)
    C_STRUCT: ClassVar[str] = "tml_clamp_params"
    size: int
    lo: int
    hi: int


@dataclass(frozen=True)
class PadParams:
    C_STRUCT: ClassVar[str] = "tml_pad_params"
    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    before: tuple[int, ...]
    pad_value: int


@dataclass(frozen=True)
class CopyParams:  # one input of a CONCATENATION: `outer` blocks of `block` bytes, every `dst_stride` bytes
    C_STRUCT: ClassVar[str] = "tml_copy_params"
    outer: int
    block: int
    dst_stride: int
    dst_offset: int


@dataclass(frozen=True)
class CopyRectParams:  # a rectangle gathered from a strided source into a contiguous buffer
    C_STRUCT: ClassVar[str] = "tml_copy_rect_params"
    rows: int
    row_bytes: int
    src_stride: int
    src_offset: int


@dataclass(frozen=True)
class AccumulateParams:
    """One band's share of a reduction summed into int32 accumulators (a patch stage that ends at a classifier):
    FULLY_CONNECTED elements [start, start + count) of the flattened input, or channel sums over `count` pixels."""
    C_STRUCT: ClassVar[str] = "tml_accumulate_params"
    accum_depth: int
    out_c: int
    input_offset: int
    filter_offset: int
    start: int
    count: int
    first: int


@dataclass(frozen=True)
class StridedSliceParams:  # 4-D, any element type
    C_STRUCT: ClassVar[str] = "tml_strided_slice_params"
    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    begin: tuple[int, ...]
    stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class PermuteParams:  # TRANSPOSE, SPACE_TO_DEPTH, DEPTH_TO_SPACE: any element type
    """Output element (o0..o5), in order, is input element sum(o_d * in_stride[d])."""
    C_STRUCT: ClassVar[str] = "tml_permute_params"
    out_dims: tuple[int, ...]
    in_stride: tuple[int, ...]
    esize: int


@dataclass(frozen=True)
class ResizeNearestParams:
    """RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) copies input pixel (y_index[y], x_index[x]), `pixel` bytes."""
    C_STRUCT: ClassVar[str] = "tml_resize_nearest_params"
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
    C_STRUCT: ClassVar[str] = "tml_resize_bilinear_params"
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
    C_STRUCT: ClassVar[str] = "tml_transpose_conv_params"
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
    C_STRUCT: ClassVar[str] = "tml_unary_f32_params"
    size: int


@dataclass(frozen=True)
class MatMulParams:
    """BATCH_MATMUL: out[b, m, n] = sum_k (lhs[b, m, k] + lhs_offset) * (rhs[b, k, n] + rhs_offset), requantized.
    Up to three batch dimensions (broadcast through zero strides); element strides express adj_x and adj_y."""
    C_STRUCT: ClassVar[str] = "tml_matmul_params"
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
    C_STRUCT: ClassVar[str] = "tml_arg_params"
    outer: int
    axis: int
    inner: int


@dataclass(frozen=True)
class GatherParams:  # GATHER: `count` indices into the middle of (outer, axis, inner bytes)
    C_STRUCT: ClassVar[str] = "tml_gather_params"
    outer: int
    axis: int
    inner_bytes: int
    count: int


@dataclass(frozen=True)
class L2NormParams:  # L2_NORMALIZATION over the last axis; output scale 1/128, zero point 0
    C_STRUCT: ClassVar[str] = "tml_l2norm_params"
    outer: int
    depth: int
    input_zp: int


@dataclass(frozen=True)
class SoftmaxS16Params:
    """SOFTMAX, int16 (TFLM SoftmaxInt16): 513-entry interpolated tables of exp on [-10, 0] and 1/(1+x) on
    [0, 1]."""
    C_STRUCT: ClassVar[str] = "tml_softmax_s16_params"
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    exp_lut: tuple[int16, ...]
    recip_lut: tuple[int16, ...]


@dataclass(frozen=True)
class LutParams:
    """An int8 -> int8 function of one value, tabulated at generation time: y = table[(uint8_t)x]."""
    C_STRUCT: ClassVar[str] = "tml_lut_params"
    size: int
    table: tuple[int8, ...]


@dataclass(frozen=True)
class QuantizeParams:  # float32 -> int8
    C_STRUCT: ClassVar[str] = "tml_quantize_params"
    size: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class DequantizeParams:  # int8 -> float32
    C_STRUCT: ClassVar[str] = "tml_dequantize_params"
    size: int
    scale: double
    zero_point: int


@dataclass(frozen=True)
class SvdfParams:  # SVDF, int8 input/output, int16 or int8 activation state (its own buffer, see SvdfAttrs)
    C_STRUCT: ClassVar[str] = "tml_svdf_params"
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
    C_STRUCT: ClassVar[str] = "tml_lstm_params"
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
    `variant` picks among the generated kernels that may replace it (tinyml.kernels); "" is the default one.
    `chosen`: the generated kernel (tinyml.kernels.Special) or None (the runtime kernel) that the kernel selector
    picked for the call once the memory plan was made (tinyml.kernels.select_calls); ... until then."""
    func: str
    params: object
    args: tuple[int, ...]
    variant: str = ""
    chosen: object = field(default=..., compare=False, repr=False)

    @property
    def struct(self) -> str:
        """The C struct of the call's parameters (its dataclass's C_STRUCT)."""
        return type(self.params).C_STRUCT  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KernelRow:
    """Everything tinyml knows about one runtime C kernel (see tinyml.kernels.registry, which gathers the rows)."""
    func: str                                 # the C function (declared in tml_nn.h)
    sources: tuple[str, ...]                  # runtime_c/src files that define it
    reference: Callable[..., Any] | None = None  # its NumPy semantics (tinyml.kernels.registry says how it is called)
    stateful: bool = False                    # keeps state between invokes (reference gets states=)
    partial: bool = False                     # writes part of its output (reference gets out=)
    strided_output: bool = False              # can write its output as a strided slice of a larger NHWC tensor
    band: tuple[str, str] | None = None       # (accumulate, finish) kernels that take its reduction band by band
    # the order it reads and writes: gap(params, input position, pixel block) -> the smallest safe gap by which
    # its output may start below that input and grow into it, or None (tinyml.access); None: no overlap
    gap: Callable[[Any, int, int], int | None] | None = None


def param_fields(params: object) -> list[tuple[str, str, object]]:
    """(name, annotation, value) for each field of a parameter dataclass, in declaration order."""
    return [(f.name, str(f.type), getattr(params, f.name)) for f in fields(params)]  # type: ignore[arg-type]
