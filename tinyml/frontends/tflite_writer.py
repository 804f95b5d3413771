"""Write a `tinyml.ir.Graph` as a standard `.tflite` flatbuffer (schema v3) with the `tflite` package's builders.

The inverse of `tinyml.frontends.tflite`: one table maps each `OpKind` to its builtin operator and options.
int4 constants are packed two per byte, low nibble first, with tensor type INT4, as TFLM reads them.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import flatbuffers
import numpy as np
import tflite

from ..ir import NO_TENSOR, Activation, DType, Graph, Op, OpKind, Padding, Quant, Tensor, pack_int4

_TYPES = {DType.FLOAT32: tflite.TensorType.FLOAT32, DType.INT8: tflite.TensorType.INT8,
          DType.UINT8: tflite.TensorType.UINT8, DType.INT16: tflite.TensorType.INT16,
          DType.INT32: tflite.TensorType.INT32, DType.INT64: tflite.TensorType.INT64,
          DType.BOOL: tflite.TensorType.BOOL, DType.INT4: getattr(tflite.TensorType, "INT4", 17)}
_ACT = {Activation.NONE: 0, Activation.RELU: 1, Activation.RELU_N1_TO_1: 2, Activation.RELU6: 3}
_PAD = {Padding.SAME: tflite.Padding.SAME, Padding.VALID: tflite.Padding.VALID}
_VERSIONS = {OpKind.CONV_2D: 3, OpKind.DEPTHWISE_CONV_2D: 3, OpKind.FULLY_CONNECTED: 4, OpKind.ADD: 2,
             OpKind.SUB: 2, OpKind.MUL: 2, OpKind.AVERAGE_POOL_2D: 2, OpKind.MAX_POOL_2D: 2, OpKind.MEAN: 2,
             OpKind.SOFTMAX: 2, OpKind.LOGISTIC: 2, OpKind.TANH: 2, OpKind.CONCATENATION: 2, OpKind.PAD: 2,
             OpKind.QUANTIZE: 2, OpKind.DEQUANTIZE: 2, OpKind.LEAKY_RELU: 2, OpKind.RELU: 2, OpKind.RELU6: 2,
             OpKind.STRIDED_SLICE: 2, OpKind.TRANSPOSE: 2, OpKind.SPACE_TO_DEPTH: 2, OpKind.DEPTH_TO_SPACE: 2,
             OpKind.RESIZE_NEAREST_NEIGHBOR: 3, OpKind.MAXIMUM: 2, OpKind.MINIMUM: 2,
             OpKind.TRANSPOSE_CONV: 4, OpKind.RESIZE_BILINEAR: 3,
             OpKind.ABS: 2, OpKind.RSQRT: 2, OpKind.SQUARED_DIFFERENCE: 2, OpKind.BATCH_MATMUL: 4,
             OpKind.SVDF: 4, OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: 3}


def _mod(name: str) -> Any:
    return importlib.import_module(f"tflite.{name}")


def _conv(op: Op) -> tuple[str, dict]:
    a = op.attrs
    f = {"Padding": _PAD[a.padding], "StrideW": a.stride_w, "StrideH": a.stride_h,
         "FusedActivationFunction": _ACT[a.activation], "DilationWFactor": a.dilation_w,
         "DilationHFactor": a.dilation_h}
    if op.kind is OpKind.DEPTHWISE_CONV_2D:
        return "DepthwiseConv2DOptions", {**f, "DepthMultiplier": a.depth_multiplier}
    return "Conv2DOptions", f


def _no_options(op: Op) -> None:
    """The builtin options of an operator that has none (ADD_N, LOGISTIC, ...): nothing to write."""
    return None


# the builtin options of each operator that has some (the others: _no_options)
_OPTIONS: dict[OpKind, Callable[[Op], tuple[str, dict] | None]] = {
    OpKind.CONV_2D: _conv, OpKind.DEPTHWISE_CONV_2D: _conv,
    OpKind.FULLY_CONNECTED: lambda op: ("FullyConnectedOptions", {
        "FusedActivationFunction": _ACT[op.attrs.activation], "KeepNumDims": op.attrs.keep_num_dims}),
    OpKind.ADD: lambda op: ("AddOptions", {"FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.SUB: lambda op: ("SubOptions", {"FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.MUL: lambda op: ("MulOptions", {"FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.DIV: lambda op: ("DivOptions", {"FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.L2_NORMALIZATION: lambda op: ("L2NormOptions", {"FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.AVERAGE_POOL_2D: lambda op: ("Pool2DOptions", _pool(op)),
    OpKind.MAX_POOL_2D: lambda op: ("Pool2DOptions", _pool(op)),
    OpKind.MEAN: lambda op: ("ReducerOptions", {"KeepDims": op.attrs.keep_dims}),
    OpKind.SOFTMAX: lambda op: ("SoftmaxOptions", {"Beta": op.attrs.beta}),
    OpKind.LEAKY_RELU: lambda op: ("LeakyReluOptions", {"Alpha": op.attrs.alpha}),
    OpKind.CONCATENATION: lambda op: ("ConcatenationOptions", {
        "Axis": op.attrs.axis, "FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.RESHAPE: lambda op: None, OpKind.PAD: lambda op: ("PadOptions", {}),
    OpKind.STRIDED_SLICE: lambda op: ("StridedSliceOptions", {
        "BeginMask": op.attrs.begin_mask, "EndMask": op.attrs.end_mask,
        "ShrinkAxisMask": op.attrs.shrink_axis_mask}),
    OpKind.LOGISTIC: lambda op: None, OpKind.TANH: lambda op: None, OpKind.RELU: lambda op: None,
    OpKind.RELU6: lambda op: None, OpKind.HARD_SWISH: lambda op: ("HardSwishOptions", {}),
    OpKind.QUANTIZE: lambda op: ("QuantizeOptions", {}), OpKind.DEQUANTIZE: lambda op: ("DequantizeOptions", {}),
    OpKind.TRANSPOSE: lambda op: ("TransposeOptions", {}),
    OpKind.SPACE_TO_DEPTH: lambda op: ("SpaceToDepthOptions", {"BlockSize": op.attrs.block_size}),
    OpKind.DEPTH_TO_SPACE: lambda op: ("DepthToSpaceOptions", {"BlockSize": op.attrs.block_size}),
    OpKind.RESIZE_NEAREST_NEIGHBOR: lambda op: ("ResizeNearestNeighborOptions", {
        "AlignCorners": op.attrs.align_corners, "HalfPixelCenters": op.attrs.half_pixel_centers}),
    OpKind.RESIZE_BILINEAR: lambda op: ("ResizeBilinearOptions", {
        "AlignCorners": op.attrs.align_corners, "HalfPixelCenters": op.attrs.half_pixel_centers}),
    OpKind.TRANSPOSE_CONV: lambda op: ("TransposeConvOptions", {
        "Padding": _PAD[op.attrs.padding], "StrideW": op.attrs.stride_w, "StrideH": op.attrs.stride_h,
        "FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.MAXIMUM: lambda op: ("MaximumMinimumOptions", {}), OpKind.MINIMUM: lambda op: ("MaximumMinimumOptions", {}),
    OpKind.PRELU: lambda op: None, OpKind.ABS: lambda op: None, OpKind.RSQRT: lambda op: None,
    OpKind.ELU: lambda op: None, OpKind.CAST: lambda op: None, OpKind.LOGICAL_AND: lambda op: None,
    OpKind.LOGICAL_OR: lambda op: None, OpKind.LOGICAL_NOT: lambda op: None, OpKind.SELECT_V2: lambda op: None,
    OpKind.GREATER: lambda op: None, OpKind.LESS: lambda op: None, OpKind.FLOOR: lambda op: None,
    OpKind.CEIL: lambda op: None, OpKind.SQRT: lambda op: None, OpKind.ROUND: lambda op: None,
    OpKind.SPACE_TO_BATCH_ND: lambda op: None, OpKind.BATCH_TO_SPACE_ND: lambda op: None,
    OpKind.SQUARED_DIFFERENCE: lambda op: ("SquaredDifferenceOptions", {}), OpKind.NEG: lambda op: ("NegOptions", {}),
    OpKind.SQUARE: lambda op: ("SquareOptions", {}),
    OpKind.SUM: lambda op: ("ReducerOptions", {"KeepDims": op.attrs.keep_dims}),
    OpKind.REDUCE_MAX: lambda op: ("ReducerOptions", {"KeepDims": op.attrs.keep_dims}),
    OpKind.ARG_MAX: lambda op: ("ArgMaxOptions", {"OutputType": tflite.TensorType.INT32}),
    OpKind.ARG_MIN: lambda op: ("ArgMinOptions", {"OutputType": tflite.TensorType.INT32}),
    OpKind.GATHER: lambda op: ("GatherOptions", {"Axis": op.attrs.axis}),
    OpKind.BATCH_MATMUL: lambda op: ("BatchMatMulOptions", {"AdjX": op.attrs.adj_x, "AdjY": op.attrs.adj_y}),
    OpKind.SVDF: lambda op: ("SVDFOptions", {"Rank": op.attrs.rank,
                                             "FusedActivationFunction": _ACT[op.attrs.activation]}),
    OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM: lambda op: ("UnidirectionalSequenceLSTMOptions", {
        "FusedActivationFunction": tflite.ActivationFunctionType.TANH, "CellClip": op.attrs.cell_clip,
        "ProjClip": 0.0, "TimeMajor": op.attrs.time_major}),
}


def _pool(op: Op) -> dict:
    a = op.attrs
    return {"Padding": _PAD[a.padding], "StrideW": a.stride_w, "StrideH": a.stride_h, "FilterWidth": a.filter_w,
            "FilterHeight": a.filter_h, "FusedActivationFunction": _ACT[a.activation]}


def _raw(t_data: np.ndarray, dtype: DType) -> bytes:
    if dtype is DType.INT4:
        return pack_int4(t_data)
    return np.ascontiguousarray(t_data, dtype.numpy).tobytes()


def _vector(b: flatbuffers.Builder, start: Callable, values: list[int], kind: str = "Int32") -> int:
    start(b, len(values))
    for v in reversed(values):
        getattr(b, f"Prepend{kind}")(v)
    return b.EndVector()


def _bytes(b: flatbuffers.Builder, data: bytes, align: int = 16) -> int:
    b.StartVector(1, len(data), align)
    b.head = b.head - len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector()


def _file_order(g: Graph) -> Graph:
    """TRANSPOSE_CONV back to TFLite's input order (output shape, weights, input[, bias]), its output shape an
    appended int32 constant (the importer's reordering, inverted); each SVDF's activation state back as an
    appended variable tensor, its input 4, and each LSTM's 24 inputs with its hidden and cell states as
    appended variable tensors 18 and 19 (see `_variables`)."""
    if not any(op.kind in (OpKind.TRANSPOSE_CONV, OpKind.SVDF, OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM)
               for op in g.ops):
        return g
    tensors, ops = list(g.tensors), []
    for op in g.ops:
        if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:
            a = op.attrs
            x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
            batch = x.shape[1] if a.time_major else x.shape[0]
            tensors.append(Tensor(a.hidden_name, (batch, w.shape[0]), DType.INT8,
                                  Quant((a.hidden_scale,), (a.hidden_zero_point,))))
            tensors.append(Tensor(a.cell_name, (batch, w.shape[0]), DType.INT16, Quant((a.cell_scale,), (0,))))
            ins = [NO_TENSOR] * 24
            ins[0] = op.inputs[0]
            ins[1:9] = op.inputs[1:9]
            ins[12:16] = op.inputs[9:13]
            ins[18], ins[19] = len(tensors) - 2, len(tensors) - 1
            op = replace(op, inputs=tuple(ins))
        if op.kind is OpKind.SVDF:
            a = op.attrs
            x, wf, wt = (g.tensor(i) for i in op.inputs[:3])
            quant = Quant((a.state_scale,), (a.state_zero_point,))
            tensors.append(Tensor(a.state_name, (x.shape[0], wt.shape[1] * wf.shape[0]), a.state_dtype, quant))
            ins = tuple(op.inputs) + (NO_TENSOR,) * (4 - len(op.inputs))
            op = replace(op, inputs=ins + (len(tensors) - 1,))
        if op.kind is OpKind.TRANSPOSE_CONV:
            y = g.tensor(op.outputs[0])
            data = np.asarray(y.shape, np.int32)
            data.setflags(write=False)
            tensors.append(Tensor(f"{y.name}/output_shape", (len(y.shape),), DType.INT32, None, data))
            op = replace(op, inputs=(len(tensors) - 1, op.inputs[1], op.inputs[0]) + tuple(op.inputs[2:]))
        ops.append(op)
    return replace(g, tensors=tuple(tensors), ops=tuple(ops))


def _variables(g: Graph) -> set[int]:
    """The tensors that are states (SVDF's input 4, LSTM's 18 and 19), written with is_variable."""
    return {op.inputs[4] for op in g.ops if op.kind is OpKind.SVDF} | \
        {op.inputs[k] for op in g.ops if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM for k in (18, 19)}


LSTM_INTERMEDIATES = ("input_to_input", "input_to_forget", "input_to_cell", "input_to_output", "effective_hidden_scale")


def _lstm_intermediates(g: Graph) -> tuple[Graph, dict[int, tuple[int, ...]]]:
    """`g` with the five quantization-only intermediate tensors TensorFlow's converter attaches to each int8
    UNIDIRECTIONAL_SEQUENCE_LSTM (shape [0]; four float32 without quantization, the last int8 at the hidden
    state's scale), and op index -> their indices."""
    tensors, inter = list(g.tensors), {}
    for k, op in enumerate(g.ops):
        if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:
            h = g.tensor(op.inputs[18])
            start = len(tensors)
            tensors += [Tensor(f"{n}_intermediate", (0,), DType.FLOAT32) for n in LSTM_INTERMEDIATES[:4]]
            tensors.append(Tensor("effective_hidden_scale_intermediate", (0,), DType.INT8, h.quant))
            inter[k] = tuple(range(start, len(tensors)))
    return Graph(g.name, tuple(tensors), g.ops, g.inputs, g.outputs, g.source), inter


def write_tflite(g: Graph, description: str = "tinyml", lstm_intermediates: bool = False) -> bytes:
    """The .tflite bytes of `g`: one subgraph, one buffer per constant tensor (buffer 0 is the empty one).
    `lstm_intermediates`: each LSTM carries the intermediate tensors of a converter-made one (TFLM ignores them)."""
    g = _file_order(g)
    g, inter = _lstm_intermediates(g) if lstm_intermediates else (g, {})
    b = flatbuffers.Builder(1024)
    M, Sg = _mod("Model"), _mod("SubGraph")
    buffer_of, buf_offsets = _write_buffers(b, g)
    tensor_offsets = _write_tensors(b, g, buffer_of, _variables(g))
    kinds = sorted({op.kind for op in g.ops}, key=lambda k: k.value)
    op_offsets = _write_operators(b, g, inter, {k: n for n, k in enumerate(kinds)})

    tensors_vec = _table_vector(b, Sg.StartTensorsVector, tensor_offsets)
    ops_vec = _table_vector(b, Sg.StartOperatorsVector, op_offsets)
    ins_vec = _vector(b, Sg.StartInputsVector, list(g.inputs))
    outs_vec = _vector(b, Sg.StartOutputsVector, list(g.outputs))
    sg_name = b.CreateString("main")
    Sg.Start(b)
    Sg.AddTensors(b, tensors_vec)
    Sg.AddInputs(b, ins_vec)
    Sg.AddOutputs(b, outs_vec)
    Sg.AddOperators(b, ops_vec)
    Sg.AddName(b, sg_name)
    subgraph = Sg.End(b)

    codes_vec = _table_vector(b, M.StartOperatorCodesVector, _write_codes(b, kinds))
    subgraphs_vec = _table_vector(b, M.StartSubgraphsVector, [subgraph])
    buffers_vec = _table_vector(b, M.StartBuffersVector, buf_offsets)
    desc = b.CreateString(description)
    M.Start(b)
    M.AddVersion(b, 3)
    M.AddOperatorCodes(b, codes_vec)
    M.AddSubgraphs(b, subgraphs_vec)
    M.AddDescription(b, desc)
    M.AddBuffers(b, buffers_vec)
    model = M.End(b)
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def _table_vector(b: flatbuffers.Builder, start: Callable, offs: list[int]) -> int:
    start(b, len(offs))
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _write_buffers(b: flatbuffers.Builder, g: Graph) -> tuple[dict[int, int], list[int]]:
    """The buffers (0 = empty, then one per constant): ({tensor: buffer index}, the buffers' offsets)."""
    Buf = _mod("Buffer")
    buffer_of: dict[int, int] = {}
    datas: list[bytes] = [b""]
    for i, t in enumerate(g.tensors):
        if t.is_const:
            buffer_of[i] = len(datas)
            datas.append(_raw(t.data, t.dtype))
    buf_offsets = []
    for d in datas:
        vec = _bytes(b, d) if d else None
        Buf.Start(b)
        if vec is not None:
            Buf.AddData(b, vec)
        buf_offsets.append(Buf.End(b))
    return buffer_of, buf_offsets


def _write_tensors(b: flatbuffers.Builder, g: Graph, buffer_of: dict[int, int], variables: set[int]
                   ) -> list[int]:
    T, Q = _mod("Tensor"), _mod("QuantizationParameters")
    tensor_offsets = []
    for i, t in enumerate(g.tensors):
        name = b.CreateString(t.name)
        shape = _vector(b, T.StartShapeVector, list(t.shape))
        quant = None
        if t.quant is not None:
            scale = _vector(b, Q.StartScaleVector, [float(s) for s in t.quant.scale], "Float32")
            zp = _vector(b, Q.StartZeroPointVector, [int(z) for z in t.quant.zero_point], "Int64")
            Q.Start(b)
            Q.AddScale(b, scale)
            Q.AddZeroPoint(b, zp)
            Q.AddQuantizedDimension(b, t.quant.axis)
            quant = Q.End(b)
        T.Start(b)
        T.AddShape(b, shape)
        T.AddType(b, _TYPES[t.dtype])
        T.AddBuffer(b, buffer_of.get(i, 0))
        T.AddName(b, name)
        if quant is not None:
            T.AddQuantization(b, quant)
        if i in variables:
            T.AddIsVariable(b, True)
        tensor_offsets.append(T.End(b))
    return tensor_offsets


def _write_operators(b: flatbuffers.Builder, g: Graph, inter: dict[int, tuple[int, ...]],
                     code_index: dict[OpKind, int]) -> list[int]:
    Opr = _mod("Operator")
    op_offsets = []
    for k, op in enumerate(g.ops):
        spec = _OPTIONS.get(op.kind, _no_options)(op)
        opt = None
        if spec is not None:
            mod = _mod(spec[0])
            mod.Start(b)
            for field, value in spec[1].items():
                getattr(mod, f"Add{field}")(b, value)
            opt = mod.End(b)
        ins = _vector(b, Opr.StartInputsVector, list(op.inputs))
        outs = _vector(b, Opr.StartOutputsVector, list(op.outputs))
        mids = _vector(b, Opr.StartIntermediatesVector, list(inter[k])) if k in inter else None
        Opr.Start(b)
        Opr.AddOpcodeIndex(b, code_index[op.kind])
        Opr.AddInputs(b, ins)
        Opr.AddOutputs(b, outs)
        if mids is not None:
            Opr.AddIntermediates(b, mids)
        if spec is not None:
            Opr.AddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, spec[0]))
            Opr.AddBuiltinOptions(b, opt)
        op_offsets.append(Opr.End(b))
    return op_offsets


def _write_codes(b: flatbuffers.Builder, kinds: list[OpKind]) -> list[int]:
    Code = _mod("OperatorCode")
    codes = []
    for k in kinds:
        builtin = getattr(tflite.BuiltinOperator, k.value)
        Code.Start(b)
        Code.AddDeprecatedBuiltinCode(b, min(builtin, 127))
        Code.AddBuiltinCode(b, builtin)
        Code.AddVersion(b, _VERSIONS.get(k, 1))
        codes.append(Code.End(b))
    return codes
