"""The one intermediate representation every front end produces and every back end consumes.

A `Graph` is a tuple of `Tensor`s and a tuple of `Op`s in execution order.  Ops refer to tensors by index;
an absent optional input (a convolution without bias) is `NO_TENSOR`.  Everything is frozen: passes build new
graphs instead of mutating old ones.

Designed for what comes next:
- `DType.INT4` weights (packed two per byte, low nibble first, as CMSIS-NN) and a per-op weight width, so mixed
  precision is a property of the graph, not of the code generator;
- memory placement (arena offsets, in-place and overlapped buffers, patches) lives in `tinyml.memory`, keyed by
  tensor index, never inside the IR, so the same graph can be planned several ways;
- ops carry typed attribute dataclasses, one per kind, never string-keyed dictionaries.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

NO_TENSOR = -1


class DType(enum.Enum):
    INT4 = "int4"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    BOOL = "bool"

    @property
    def bits(self) -> int:
        return {"int4": 4, "int8": 8, "uint8": 8, "int16": 16, "int32": 32, "int64": 64, "float32": 32,
                "bool": 8}[self.value]

    @property
    def numpy(self) -> np.dtype:
        """NumPy dtype of one *unpacked* element (int4 values are held as int8 in NumPy)."""
        return np.dtype({"int4": "int8", "bool": "bool"}.get(self.value, self.value))

    @property
    def ctype(self) -> str:
        return {"int4": "int8_t", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
                "int64": "int64_t", "float32": "float", "bool": "uint8_t"}[self.value]

    def storage_bytes(self, count: int) -> int:
        """Bytes needed to store `count` elements (int4: two per byte, rounded up)."""
        return (count * self.bits + 7) // 8


def pack_int4(values: np.ndarray) -> bytes:
    """int4 values (held as int8 in [-8, 7]) packed two per byte, low nibble first ([1,2,3,4] -> 0x21 0x43)."""
    v = (np.asarray(values, np.int8).reshape(-1) & 0x0F).astype(np.uint8)
    if v.size % 2:
        v = np.append(v, np.uint8(0))
    return (v[0::2] | (v[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_int4(raw: bytes, count: int) -> np.ndarray:
    """The inverse of `pack_int4`: `count` signed int4 values as int8."""
    packed = np.frombuffer(raw, np.uint8)
    vals = np.stack([packed & 0x0F, packed >> 4], axis=1).reshape(-1)[:count].astype(np.int8)
    return np.where(vals > 7, vals - 16, vals).astype(np.int8)


class Padding(enum.Enum):
    SAME = "same"
    VALID = "valid"


class Activation(enum.Enum):
    NONE = "none"
    RELU = "relu"
    RELU_N1_TO_1 = "relu_n1_to_1"
    RELU6 = "relu6"


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-channel along `axis` when len(scale) > 1."""
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def scalar(self) -> tuple[float, int]:
        return self.scale[0], self.zero_point[0]


@dataclass(frozen=True, eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: Quant | None = None
    data: np.ndarray | None = field(default=None, repr=False)  # constants only (weights, biases, shapes)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # 1 for a scalar (shape ())

    @property
    def nbytes(self) -> int:
        return self.dtype.storage_bytes(self.size)

    @property
    def scale(self) -> float:
        assert self.quant is not None, f"tensor {self.name} is not quantized"
        return self.quant.scale[0]

    @property
    def zero_point(self) -> int:
        assert self.quant is not None, f"tensor {self.name} is not quantized"
        return self.quant.zero_point[0]


class OpKind(enum.Enum):
    CONV_2D = "CONV_2D"
    DEPTHWISE_CONV_2D = "DEPTHWISE_CONV_2D"
    FULLY_CONNECTED = "FULLY_CONNECTED"
    ADD = "ADD"
    SUB = "SUB"
    MUL = "MUL"
    AVERAGE_POOL_2D = "AVERAGE_POOL_2D"
    MAX_POOL_2D = "MAX_POOL_2D"
    MEAN = "MEAN"
    RESHAPE = "RESHAPE"
    SOFTMAX = "SOFTMAX"
    LOG_SOFTMAX = "LOG_SOFTMAX"
    LOGISTIC = "LOGISTIC"
    TANH = "TANH"
    HARD_SWISH = "HARD_SWISH"
    LEAKY_RELU = "LEAKY_RELU"
    RELU = "RELU"
    RELU6 = "RELU6"
    PAD = "PAD"
    CONCATENATION = "CONCATENATION"
    STRIDED_SLICE = "STRIDED_SLICE"
    QUANTIZE = "QUANTIZE"
    DEQUANTIZE = "DEQUANTIZE"
    TRANSPOSE = "TRANSPOSE"
    SPACE_TO_DEPTH = "SPACE_TO_DEPTH"
    DEPTH_TO_SPACE = "DEPTH_TO_SPACE"
    RESIZE_NEAREST_NEIGHBOR = "RESIZE_NEAREST_NEIGHBOR"
    MAXIMUM = "MAXIMUM"
    MINIMUM = "MINIMUM"
    PRELU = "PRELU"
    TRANSPOSE_CONV = "TRANSPOSE_CONV"
    RESIZE_BILINEAR = "RESIZE_BILINEAR"
    ABS = "ABS"
    RSQRT = "RSQRT"
    SQUARED_DIFFERENCE = "SQUARED_DIFFERENCE"
    NEG = "NEG"
    SQUARE = "SQUARE"
    FLOOR = "FLOOR"
    CEIL = "CEIL"
    SQRT = "SQRT"
    ROUND = "ROUND"
    BATCH_MATMUL = "BATCH_MATMUL"
    SUM = "SUM"
    REDUCE_MAX = "REDUCE_MAX"
    ARG_MAX = "ARG_MAX"
    ARG_MIN = "ARG_MIN"
    GATHER = "GATHER"
    DIV = "DIV"
    L2_NORMALIZATION = "L2_NORMALIZATION"
    SVDF = "SVDF"
    UNIDIRECTIONAL_SEQUENCE_LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
    MIRROR_PAD = "MIRROR_PAD"
    SPACE_TO_BATCH_ND = "SPACE_TO_BATCH_ND"
    BATCH_TO_SPACE_ND = "BATCH_TO_SPACE_ND"
    ELU = "ELU"
    EQUAL = "EQUAL"
    NOT_EQUAL = "NOT_EQUAL"
    LESS = "LESS"
    LESS_EQUAL = "LESS_EQUAL"
    GREATER = "GREATER"
    GREATER_EQUAL = "GREATER_EQUAL"
    SELECT_V2 = "SELECT_V2"
    LOGICAL_AND = "LOGICAL_AND"
    LOGICAL_OR = "LOGICAL_OR"
    LOGICAL_NOT = "LOGICAL_NOT"
    BROADCAST_TO = "BROADCAST_TO"
    SHAPE = "SHAPE"  # folded into a constant at import (tinyml.fold); never reaches the lowering
    # operators tinyml computes only on constants, at import (shape arithmetic; tinyml.fold.CONST_ONLY)
    REDUCE_PROD = "REDUCE_PROD"
    CAST = "CAST"
    FILL = "FILL"
    ZEROS_LIKE = "ZEROS_LIKE"
    FLOOR_DIV = "FLOOR_DIV"
    FLOOR_MOD = "FLOOR_MOD"
    RANGE = "RANGE"
    BROADCAST_ARGS = "BROADCAST_ARGS"
    # the other builtins TFLM's interpreter registers (tinyml.optable): the importer rewrites some into the
    # operators above (SLICE, PADV2, PACK, ...) and refuses the rest with the operator table's reason, until an
    # operator family (tinyml/ops) lowers them, so a new operator needs no change here
    ADD_N = "ADD_N"
    ASSIGN_VARIABLE = "ASSIGN_VARIABLE"
    CALL_ONCE = "CALL_ONCE"
    COS = "COS"
    CUMSUM = "CUMSUM"
    EXP = "EXP"
    EXPAND_DIMS = "EXPAND_DIMS"
    GATHER_ND = "GATHER_ND"
    IF = "IF"
    L2_POOL_2D = "L2_POOL_2D"
    LOG = "LOG"
    PACK = "PACK"
    PADV2 = "PADV2"
    READ_VARIABLE = "READ_VARIABLE"
    SIN = "SIN"
    SLICE = "SLICE"
    SPLIT = "SPLIT"
    SPLIT_V = "SPLIT_V"
    SQUEEZE = "SQUEEZE"
    UNPACK = "UNPACK"
    VAR_HANDLE = "VAR_HANDLE"
    WHILE = "WHILE"


# ---- typed attributes, one dataclass per family of ops -------------------------------------------------------
@dataclass(frozen=True)
class NoAttrs:
    pass


@dataclass(frozen=True)
class ConvAttrs:
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    padding: Padding
    activation: Activation
    depth_multiplier: int = 1  # depthwise only


@dataclass(frozen=True)
class FullyConnectedAttrs:
    activation: Activation
    keep_num_dims: bool = False


@dataclass(frozen=True)
class PoolAttrs:
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    padding: Padding
    activation: Activation


@dataclass(frozen=True)
class ElementwiseAttrs:
    activation: Activation


@dataclass(frozen=True)
class SoftmaxAttrs:
    beta: float


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float


@dataclass(frozen=True)
class ConcatAttrs:
    axis: int
    activation: Activation


@dataclass(frozen=True)
class MeanAttrs:
    axes: tuple[int, ...]
    keep_dims: bool


@dataclass(frozen=True)
class PadAttrs:
    paddings: tuple[tuple[int, int], ...]  # (before, after) per dimension


@dataclass(frozen=True)
class MirrorPadAttrs:
    paddings: tuple[tuple[int, int], ...]  # (before, after) per dimension
    symmetric: bool  # SYMMETRIC repeats the edge value; REFLECT (False) does not


@dataclass(frozen=True)
class SpaceBatchAttrs:  # SPACE_TO_BATCH_ND (paddings) and BATCH_TO_SPACE_ND (crops), both constant inputs
    block: tuple[int, ...]                 # block size per spatial dimension
    pads: tuple[tuple[int, int], ...]      # (before, after) per spatial dimension: paddings or crops


@dataclass(frozen=True)
class SliceAttrs:
    """STRIDED_SLICE (and SLICE): element [i] of the output along each input dimension d is input element
    begin[d] + i * strides[d], for i < size[d]; all resolved (masks and negative indices applied, full rank).
    The masks are kept only to write the op back to .tflite as it was read."""
    begin: tuple[int, ...]
    size: tuple[int, ...]
    strides: tuple[int, ...]
    begin_mask: int = 0
    end_mask: int = 0
    shrink_axis_mask: int = 0


@dataclass(frozen=True)
class TransposeAttrs:
    perm: tuple[int, ...]  # output dimension d is input dimension perm[d]


@dataclass(frozen=True)
class BlockAttrs:  # SPACE_TO_DEPTH and DEPTH_TO_SPACE
    block_size: int


@dataclass(frozen=True)
class AxisAttrs:  # ARG_MAX / ARG_MIN (the constant axis input) and GATHER
    axis: int


@dataclass(frozen=True)
class MatMulAttrs:  # BATCH_MATMUL
    adj_x: bool
    adj_y: bool


@dataclass(frozen=True)
class ResizeAttrs:  # RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR
    align_corners: bool
    half_pixel_centers: bool


@dataclass(frozen=True)
class ShapeAttrs:  # SHAPE: the type of its output (int32 or int64)
    out_type: DType


@dataclass(frozen=True)
class SvdfAttrs:
    """SVDF. Its activation state (TFLite's variable input 4: [batch, memory * filters], kept between invokes) is
    not a graph tensor: the op owns it, and these fields describe it. The code generator gives each SVDF a static
    buffer outside the arena, set to its reset value by `<prefix>_reset()` (and before the first invoke)."""
    rank: int
    activation: Activation
    state_dtype: DType        # INT16 or INT8 (the time weights have the same type)
    state_scale: float
    state_zero_point: int
    state_name: str = "activation_state"


@dataclass(frozen=True)
class LstmAttrs:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM's integer LSTM: no peephole, projection, layer norm or CIFG). Its hidden
    and cell states (TFLite's variable inputs 18 and 19, kept between invokes) are not graph tensors: the op owns
    them and these fields describe them (see SvdfAttrs). The op's inputs are the input, the four input weights,
    the four recurrent weights and the four gate biases, each in TFLite's gate order (input, forget, cell,
    output)."""
    activation: str          # the cell gate's nonlinearity: "tanh" or "sigmoid"
    cell_clip: float
    time_major: bool
    hidden_scale: float
    hidden_zero_point: int
    cell_scale: float
    hidden_name: str = "hidden_state"
    cell_name: str = "cell_state"


Attrs = (NoAttrs | ConvAttrs | FullyConnectedAttrs | PoolAttrs | ElementwiseAttrs | SoftmaxAttrs | LeakyReluAttrs
         | ConcatAttrs | MeanAttrs | PadAttrs | SliceAttrs | TransposeAttrs | BlockAttrs | ResizeAttrs
         | MatMulAttrs | AxisAttrs | SvdfAttrs | LstmAttrs | ShapeAttrs | MirrorPadAttrs
         | SpaceBatchAttrs)


@dataclass(frozen=True)
class Op:
    kind: OpKind
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    attrs: Attrs
    name: str = ""


@dataclass(frozen=True)
class Graph:
    name: str
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    source: str = ""  # file name (or description) of the model this graph was imported from

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Op) -> list[Tensor | None]:
        return [None if i == NO_TENSOR else self.tensors[i] for i in op.inputs]

    @property
    def wide(self) -> bool:
        """True when activations are int16 (16x8 quantization)."""
        return any(t.dtype is DType.INT16 and not t.is_const for t in self.tensors)

    def activation_inputs(self, op: Op) -> list[int]:
        """Indices of the non-constant inputs of `op` (what has to live in RAM while it runs)."""
        return [i for i in op.inputs if i != NO_TENSOR and not self.tensors[i].is_const]

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for k, op in enumerate(self.ops):
            for i in op.inputs:
                if i != NO_TENSOR:
                    out.setdefault(i, []).append(k)
        return out


class GraphBuilder:
    """Appends tensors and ops; front ends and graph rewrites use it to produce a new `Graph`."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []

    def tensor(self, name: str, shape: tuple[int, ...], dtype: DType = DType.FLOAT32, quant: Quant | None = None,
               data: np.ndarray | None = None) -> int:
        if data is not None:
            data = np.ascontiguousarray(data, dtype.numpy).reshape(shape)
            data.setflags(write=False)
        self.tensors.append(Tensor(name, tuple(int(d) for d in shape), dtype, quant, data))
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray, dtype: DType = DType.FLOAT32) -> int:
        return self.tensor(name, tuple(np.shape(data)), dtype, data=np.asarray(data))

    def op(self, kind: OpKind, inputs: tuple[int, ...], outputs: tuple[int, ...], attrs: Attrs | None = None,
           name: str = "") -> int:
        self.ops.append(Op(kind, tuple(inputs), tuple(outputs), NoAttrs() if attrs is None else attrs, name))
        return len(self.ops) - 1

    def build(self, name: str, inputs: tuple[int, ...], outputs: tuple[int, ...], source: str = "") -> Graph:
        """The graph, with tensors no op or graph input/output uses dropped (indices renumbered)."""
        used = set(inputs) | set(outputs)
        for op in self.ops:
            used.update(i for i in op.inputs + op.outputs if i != NO_TENSOR)
        keep = sorted(used)
        new = {old: k for k, old in enumerate(keep)}
        new[NO_TENSOR] = NO_TENSOR
        ops = tuple(Op(o.kind, tuple(new[i] for i in o.inputs), tuple(new[i] for i in o.outputs), o.attrs, o.name)
                    for o in self.ops)
        return Graph(name, tuple(self.tensors[i] for i in keep), ops, tuple(new[i] for i in inputs),
                     tuple(new[i] for i in outputs), source)
