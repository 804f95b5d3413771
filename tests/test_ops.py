"""The data-driven op test plan (tests/support/opplan.py): Keras -> TFLiteConverter int8 -> tinyml C vs TFLM."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_tflm
from helpers import assert_bit_exact, assert_single_op_bit_exact, single_op_model
from opplan import PLAN

from tinyml.frontends.tflite import load_tflite

pytestmark = [needs_tflm()]

EXPECTED_OPS = {  # the plan must keep covering every supported operator
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "MEAN", "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "PAD",
    "CONCATENATION", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE",
    "RESIZE_NEAREST_NEIGHBOR", "MAXIMUM", "MINIMUM", "PRELU", "RESIZE_BILINEAR", "TRANSPOSE_CONV", "ABS", "RSQRT",
    "SQUARED_DIFFERENCE", "NEG", "SQUARE", "BATCH_MATMUL", "SUM", "REDUCE_MAX", "ARG_MAX", "ARG_MIN", "GATHER",
    "DIV", "L2_NORMALIZATION",
}
IMPORTED_AS_OTHERS = {"SPLIT", "SPLIT_V", "UNPACK", "PACK"}  # become STRIDED_SLICE / RESHAPE + CONCATENATION
_seen: set[str] = set()


def _file_ops(model) -> set[str]:
    import tflite

    from tinyml.frontends.tflite import _BUILTIN_NAMES
    m = tflite.Model.GetRootAsModel(model.read_bytes(), 0)
    return {_BUILTIN_NAMES[max(m.OperatorCodes(k).BuiltinCode(), m.OperatorCodes(k).DeprecatedBuiltinCode())]
            for k in range(m.OperatorCodesLength())}


@pytest.mark.parametrize("case", [c["name"] for c in PLAN])
def test_op_case_bit_exact(case, opplan_models, tmp_path):
    model = opplan_models(case)
    _seen.update(op.kind.value for op in load_tflite(model).ops)
    assert_bit_exact(model, tmp_path / "out")


def test_plan_covers_every_supported_op(opplan_models):
    in_files: set[str] = set()
    for c in PLAN:
        _seen.update(op.kind.value for op in load_tflite(opplan_models(c["name"])).ops)
        in_files |= _file_ops(opplan_models(c["name"]))
    assert EXPECTED_OPS <= _seen, f"not covered: {sorted(EXPECTED_OPS - _seen)}"
    assert IMPORTED_AS_OTHERS <= in_files, f"not covered: {sorted(IMPORTED_AS_OTHERS - in_files)}"


def test_float_island_bit_exact(opplan_models, tmp_path):
    """DEQUANTIZE -> float32 TRANSPOSE, STRIDED_SLICE, CONCATENATION -> QUANTIZE inside an int8 graph (what the
    converter leaves around SPLIT_V and UNPACK at times): the float ops run on float32 values, bit-exact with
    TFLM, and the report lists them; a float32 ADD there is TFLM's too, a float32 DIV is refused."""
    import dataclasses

    import numpy as np

    from tinyml.compiler import CompileOptions, compile_model
    from tinyml.errors import TinymlError
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import (
        Activation,
        ConcatAttrs,
        DType,
        ElementwiseAttrs,
        NoAttrs,
        Op,
        OpKind,
        SliceAttrs,
        Tensor,
        TransposeAttrs,
    )
    g = load_tflite(opplan_models("transpose_hw"))
    k = next(i for i, op in enumerate(g.ops) if op.kind is OpKind.TRANSPOSE)
    x, y = g.ops[k].inputs[0], g.ops[k].outputs[0]
    ts = list(g.tensors)

    def add(name, shape, dtype=DType.FLOAT32, data=None, like=None):
        ts.append(dataclasses.replace(like, name=name, shape=shape) if like else Tensor(name, shape, dtype, None, data))
        return len(ts) - 1

    def const(name, v):
        d = np.asarray(v, np.int32)
        d.setflags(write=False)
        return add(name, (len(v),), DType.INT32, d)
    xs = ts[x].shape
    t_shape = (xs[0], xs[2], xs[1], xs[3])
    s_shape = (1, t_shape[1], 3, t_shape[3])
    xf, tf_, sf = add("xf", xs), add("tf", t_shape), add("sf", s_shape)
    cat = add("cf", (1, t_shape[1], t_shape[2] + 3, t_shape[3]))
    yq = add("yq", ts[cat].shape, like=ts[y])
    head = list(g.ops[:k]) + [
        Op(OpKind.DEQUANTIZE, (x,), (xf,), NoAttrs()),
        Op(OpKind.TRANSPOSE, (xf, const("perm", [0, 2, 1, 3])), (tf_,), TransposeAttrs((0, 2, 1, 3))),
        Op(OpKind.STRIDED_SLICE, (tf_, const("b", [0, 0, 1, 0]), const("e", [1, t_shape[1], 6, t_shape[3]]),
                                  const("s", [1, 1, 2, 1])), (sf,), SliceAttrs((0, 0, 1, 0), s_shape, (1, 1, 2, 1))),
        Op(OpKind.CONCATENATION, (tf_, sf), (cat,), ConcatAttrs(2, Activation.NONE))]
    p = tmp_path / "island.tflite"
    p.write_bytes(write_tflite(dataclasses.replace(
        g, tensors=tuple(ts), ops=tuple(head + [Op(OpKind.QUANTIZE, (cat,), (yq,), NoAttrs())]), outputs=(yq,))))
    rep = assert_bit_exact(p, tmp_path / "out")
    assert [i["op"] for i in rep["float_islands"]] == ["TRANSPOSE", "STRIDED_SLICE", "CONCATENATION"]
    total = add("sum", ts[cat].shape)
    for kind, ok in ((OpKind.ADD, True), (OpKind.DIV, False)):  # float ADD runs in islands; DIV does not
        p.write_bytes(write_tflite(dataclasses.replace(g, tensors=tuple(ts), outputs=(yq,), ops=tuple(head + [
            Op(kind, (cat, cat), (total,), ElementwiseAttrs(Activation.NONE)),
            Op(OpKind.QUANTIZE, (total,), (yq,), NoAttrs())]))))
        if ok:
            assert_bit_exact(p, tmp_path / "out_add")
            continue
        with pytest.raises(TinymlError, match="computes in float32"):
            compile_model(p, tmp_path / "out2", CompileOptions())


def test_transpose_conv_round_trip_and_refusals(opplan_models, tmp_path):
    """TRANSPOSE_CONV is imported as (input, weights, bias) and written back in TFLite's order (output shape
    first): the rewritten file is still TFLM's model, bit for bit; an output shape that no convolution of the
    output gives back, or a shape constant that disagrees with the output, is refused with a reason."""
    import dataclasses

    from tinyml.errors import TinymlError
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import OpKind
    g = load_tflite(opplan_models("tconv_s2_same"))
    p = tmp_path / "rt.tflite"
    p.write_bytes(write_tflite(g))
    g2 = load_tflite(p)
    assert [(op.kind, op.inputs) for op in g2.ops] == [(op.kind, op.inputs) for op in g.ops]
    assert_bit_exact(p, tmp_path / "out", seeds=(0,))
    k = next(i for i, op in enumerate(g.ops) if op.kind is OpKind.TRANSPOSE_CONV)
    y = g.ops[k].outputs[0]
    ts = list(g.tensors)
    n, h, w, c = ts[y].shape
    ts[y] = dataclasses.replace(ts[y], shape=(n, h + 3, w, c))  # a stride-2 SAME conv of h+3 rows is not 5 rows
    with pytest.raises(TinymlError, match="TRANSPOSE_CONV.*input height 5 does not follow from output height"):
        parse_tflite(write_tflite(dataclasses.replace(g, tensors=tuple(ts))), "bad.tflite")
    buf = bytearray(opplan_models("tconv_s2_same").read_bytes())
    shape = np.asarray(g.tensor(g.ops[k].inputs[0]).shape, np.int32)  # not the output: [1, 5, 6, 4] vs [1, 10, ...]
    out_shape = np.asarray(ts[y].shape[:1] + (h, w, c), np.int32).tobytes()
    at = bytes(buf).find(out_shape)
    assert at > 0
    buf[at:at + 16] = shape.tobytes()
    with pytest.raises(TinymlError, match="TRANSPOSE_CONV.*output shape \\[1, 5, 6, 4\\]"):
        parse_tflite(bytes(buf), "bad2.tflite")


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.02, 5, 0.02, -7), (0.05, -20, 0.011, -128),
                                                      (0.003, 100, 0.2, 3), (0.1, -128, 0.05, -128)])
def test_abs_every_int8_value(s_in, zp_in, s_out, zp_out, tmp_path):
    """ABS on all 256 int8 inputs, with and without TFLM's rescale: TFLM's bytes (the kernel is a table the
    generator fills by evaluating TFLM's arithmetic)."""
    from tinyml.ir import DType, OpKind
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    buf = single_op_model(OpKind.ABS, [((1, 256), DType.INT8, s_in, zp_in)], ((1, 256), DType.INT8, s_out, zp_out))
    assert_single_op_bit_exact(buf, [x], tmp_path, "abs")


@pytest.mark.parametrize("src,dst,s_in,zp_in,s_out,zp_out", [
    ("int8", "int16", 0.02, 5, 0.0004, 0), ("int8", "int16", 0.05, -128, 0.00002, 0),
    ("int16", "int8", 0.0004, 0, 0.02, -7), ("int16", "int8", 0.00003, 0, 0.1, 100),
    ("int16", "int16", 0.0004, 0, 0.0011, 0)])
def test_quantize_between_int8_and_int16(src, dst, s_in, zp_in, s_out, zp_out, tmp_path):
    """QUANTIZE int8 -> int16, int16 -> int8 and int16 -> int16 (TFLM's Requantize), on every int8 value or on
    int16 values across the whole range, saturating where the output type ends: TFLM's bytes."""
    from tinyml.ir import DType, OpKind
    dt = {"int8": DType.INT8, "int16": DType.INT16}
    if src == "int8":
        x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    else:
        x = np.concatenate([np.arange(-32768, 32768, 257), [-32768, -1, 0, 1, 32767]]).astype(np.int16)
        x = x[: x.size - x.size % 4].reshape(1, -1)
    buf = single_op_model(OpKind.QUANTIZE, [(x.shape, dt[src], s_in, zp_in)], (x.shape, dt[dst], s_out, zp_out))
    assert_single_op_bit_exact(buf, [x], tmp_path, f"quantize_{src}_{dst}")


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("s_in", [1 / 4096, 3e-4, 7.7e-5, 0.01, 1.0, 4.0])
def test_int16_logistic_and_tanh_every_input(kind, s_in, tmp_path):
    """16x8 LOGISTIC and TANH on every int16 input (TFLM's interpolated sigmoid table, fixedpoint.sigmoid_table_u16,
    rebuilt from its rule), power-of-two and other input scales, the saturated ends included: TFLM's bytes."""
    from tinyml.ir import DType, OpKind
    x = np.arange(-32768, 32768, dtype=np.int16).reshape(1, -1)
    buf = single_op_model(OpKind[kind], [(x.shape, DType.INT16, s_in, 0)], (x.shape, DType.INT16, 1 / 32768, 0))
    assert_single_op_bit_exact(buf, [x], tmp_path, kind.lower())


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.02, -128, 0.05, -128), (0.0007, -128, 0.3, -100),
                                                      (0.9, -128, 0.004, -128), (0.05, 0, 0.02, 10)])
def test_rsqrt_every_valid_int8_value(s_in, zp_in, s_out, zp_out, tmp_path):
    """RSQRT on every int8 input at or above the zero point (TFLM's Invoke fails below it), bit-exact with TFLM's
    Newton-Raphson fixed point (GetInvSqrtQuantizedMultiplierExp), including the saturated outputs near 0."""
    from tinyml.ir import DType, OpKind
    x = np.arange(zp_in, 128, dtype=np.int8).reshape(1, -1)
    buf = single_op_model(OpKind.RSQRT, [(x.shape, DType.INT8, s_in, zp_in)], (x.shape, DType.INT8, s_out, zp_out))
    assert_single_op_bit_exact(buf, [x], tmp_path, "rsqrt")


@pytest.mark.parametrize("lhs,rhs,adj_x,adj_y", [
    ((1, 2, 3, 5), (1, 2, 5, 4), False, False),
    ((2, 5, 3), (2, 5, 4), True, False),
    ((2, 3, 5), (2, 4, 5), False, True),
    ((2, 1, 5, 3), (3, 4, 5), True, True),   # batch broadcast both ways ([2, 1] x [3])
    ((2, 1, 3, 5), (1, 3, 5, 4), False, False),
    ((4, 7), (7, 6), False, False),
])
def test_batch_matmul_layouts(lhs, rhs, adj_x, adj_y, tmp_path):
    """BATCH_MATMUL with adj_x / adj_y and broadcast batch dimensions (TFLM transposes into scratch buffers;
    tinyml reads through strides): TFLM's bytes on three random inputs."""
    from tinyml.ir import DType, MatMulAttrs, OpKind
    m = lhs[-1] if adj_x else lhs[-2]
    n = rhs[-2] if adj_y else rhs[-1]
    batch = np.broadcast_shapes(lhs[:-2], rhs[:-2])
    out = tuple(batch) + (m, n)
    buf = single_op_model(OpKind.BATCH_MATMUL, [(lhs, DType.INT8, 0.05, 3), (rhs, DType.INT8, 0.02, -9)],
                           (out, DType.INT8, 0.07, -4), MatMulAttrs(adj_x, adj_y))
    rs = np.random.RandomState(0)
    assert_single_op_bit_exact(buf, [rs.randint(-128, 128, lhs).astype(np.int8),
                                      rs.randint(-128, 128, rhs).astype(np.int8)], tmp_path, "bmm")


def test_batch_matmul_shape_mismatch_refused():
    from tinyml.errors import TinymlError
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.ir import DType, MatMulAttrs, OpKind
    buf = single_op_model(OpKind.BATCH_MATMUL, [((2, 1, 3, 5), DType.INT8, 0.05, 3), ((3, 4, 5), DType.INT8, 0.02, 0)],
                           ((2, 3, 5, 4), DType.INT8, 0.07, 0), MatMulAttrs(True, True))
    with pytest.raises(TinymlError, match=r"BATCH_MATMUL.*\(adj_x True\) times \[3, 4, 5\] \(adj_y True\) does not"):
        parse_tflite(buf, "bad.tflite")


def test_arg_max_min_ties_and_gather_runtime_indices(tmp_path):
    """ARG_MAX / ARG_MIN on values with many ties (TFLM keeps the first index) and GATHER whose int32 indices are
    a model input: TFLM's outputs."""
    from tinyml.ir import AxisAttrs, DType, OpKind
    rs = np.random.RandomState(3)
    x = rs.randint(-2, 3, (1, 4, 9, 5)).astype(np.int8)
    for kind in (OpKind.ARG_MAX, OpKind.ARG_MIN):
        for axis in (1, 2, 3):
            out = tuple(d for k, d in enumerate(x.shape) if k != axis)
            buf = single_op_model(kind, [(x.shape, DType.INT8, 0.1, 0)], (out, DType.INT32, None, 0), AxisAttrs(axis),
                                   consts=[("axis", np.asarray([axis], np.int32))])
            assert_single_op_bit_exact(buf, [x], tmp_path, f"{kind.value.lower()}{axis}")
    table = rs.randint(-128, 128, (1, 6, 3)).astype(np.int8)
    idx = np.asarray([[5, 0, 2, 2, 1]], np.int32)
    buf = single_op_model(OpKind.GATHER, [(table.shape, DType.INT8, 0.1, 2), (idx.shape, DType.INT32, None, 0)],
                           ((1, 1, 5, 3), DType.INT8, 0.1, 2), AxisAttrs(1))
    assert_single_op_bit_exact(buf, [table, idx], tmp_path, "gather")


@pytest.mark.parametrize("q", [((0.05, 3), (0.02, -9), (0.07, -4)), ((0.004, -128), (0.5, 100), (0.01, 0))])
def test_div_every_int8_pair(q, tmp_path):
    """DIV on all 65,536 pairs of int8 values: TFLM's bytes, through its per-element reciprocal, including the
    pairs where TFLM's arithmetic is undefined C++ (a divisor at its zero point, shifts by 32 or more) and the oracle
    computes something else than the quotient."""
    from tinyml.ir import Activation, DType, ElementwiseAttrs, OpKind
    (sa, za), (sb, zb), (so, zo) = q
    v = np.arange(-128, 128)
    aa, bb = np.meshgrid(v, v, indexing="ij")
    shape = (1, aa.size)
    buf = single_op_model(OpKind.DIV, [(shape, DType.INT8, sa, za), (shape, DType.INT8, sb, zb)],
                           (shape, DType.INT8, so, zo), ElementwiseAttrs(Activation.NONE))
    assert_single_op_bit_exact(buf, [aa.reshape(shape).astype(np.int8), bb.reshape(shape).astype(np.int8)], tmp_path,
                                "div")


def test_l2norm_rows(tmp_path):
    """L2_NORMALIZATION on rows of 1 to 9,000 values (sums of squares past 2^29 take the inverse square root's
    range reduction): TFLM's bytes."""
    from tinyml.ir import Activation, DType, ElementwiseAttrs, OpKind
    rs = np.random.RandomState(5)
    for depth, zp in ((1, 0), (7, -3), (300, 20), (9000, -128)):
        x = rs.randint(-128, 128, (2, depth)).astype(np.int8)
        buf = single_op_model(OpKind.L2_NORMALIZATION, [(x.shape, DType.INT8, 0.03, zp)],
                               (x.shape, DType.INT8, 1 / 128, 0), ElementwiseAttrs(Activation.NONE))
        assert_single_op_bit_exact(buf, [x], tmp_path, f"l2_{depth}")


@pytest.mark.parametrize("s_in", [0.00003, 0.001, 0.01])
def test_softmax_int16_tables(s_in, tmp_path):
    """int16 SOFTMAX: the exp and 1/(1+x) tables (TFLite's LUTPopulate, float32) and their interpolation give
    TFLM's bytes on 1,500 rows spread over the whole input range."""
    from tinyml.ir import DType, OpKind, SoftmaxAttrs
    rs = np.random.RandomState(7)
    x = rs.randint(-32768, 32768, (1500, 10)).astype(np.int16)
    x[:500] //= 64  # rows of close values
    buf = single_op_model(OpKind.SOFTMAX, [(x.shape, DType.INT16, s_in, 0)], (x.shape, DType.INT16, 1 / 32768, 0),
                          SoftmaxAttrs(1.0))
    assert_single_op_bit_exact(buf, [x], tmp_path, "softmax16")


@pytest.mark.parametrize("kind", ["SUB", "MUL", "PAD"])
def test_16x8_sub_mul_pad(kind, tmp_path):
    """int16 SUB (TFLM's left shift of 15, as ADD), MUL (broadcast) and PAD: TFLM's bytes on random inputs."""
    from tinyml.ir import Activation, DType, ElementwiseAttrs, OpKind, PadAttrs
    rs = np.random.RandomState(11)
    a = rs.randint(-32768, 32768, (1, 5, 6, 4)).astype(np.int16)
    if kind == "PAD":
        pads = np.asarray([[0, 0], [1, 2], [2, 0], [0, 0]], np.int32)
        buf = single_op_model(OpKind.PAD, [(a.shape, DType.INT16, 0.001, 0)], ((1, 8, 8, 4), DType.INT16, 0.001, 0),
                              PadAttrs(tuple(tuple(int(v) for v in r) for r in pads)), consts=[("pads", pads)])
        xs = [a]
    else:
        b = rs.randint(-32768, 32768, (1, 1, 6, 4) if kind == "MUL" else a.shape).astype(np.int16)
        buf = single_op_model(getattr(OpKind, kind), [(a.shape, DType.INT16, 0.0011, 0),
                                                      (b.shape, DType.INT16, 0.0007, 0)],
                              (a.shape, DType.INT16, 0.0015, 0), ElementwiseAttrs(Activation.NONE))
        xs = [a, b]
    assert_single_op_bit_exact(buf, xs, tmp_path, kind.lower() + "16")


def test_16x8_refusals(opplan_models, tmp_path):
    """What 16x8 does not cover yet is refused by name, and patch-based inference (planned for int8) too."""
    from tinyml.compiler import CompileOptions, compile_model
    from tinyml.errors import TinymlError
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.ir import DType, OpKind
    buf = single_op_model(OpKind.HARD_SWISH, [((1, 8), DType.INT16, 0.01, 0)], ((1, 8), DType.INT16, 0.01, 0))
    p = tmp_path / "hard_swish16.tflite"
    p.write_bytes(buf)
    parse_tflite(buf, "hard_swish16.tflite")
    with pytest.raises(TinymlError, match="HARD_SWISH int16 -> int16.*is int16 .16x8 quantization., and this "
                       "combination of types is not supported"):
        compile_model(p, tmp_path / "o1", CompileOptions())
    with pytest.raises(TinymlError, match="int16 \\(16x8\\) activations; patch-based inference"):
        compile_model(opplan_models("audio_cnn_16x8"), tmp_path / "o2", CompileOptions(patch="2x2"))


@pytest.mark.parametrize("case", ["abs_rsqrt", "neg_square_islands"])
def test_elementwise_tables_and_islands_may_overlap(case, opplan_models, tmp_path):
    """ABS/RSQRT tables and float NEG/SQUARE write out[i] right after reading in[i]: the planner may place their
    output over their dying input (gap 0), and the result stays TFLM's."""
    from tinyml.compiler import CompileOptions
    from tinyml.memory.overlap import safe_gap
    from tinyml.params import Kernel as K
    from tinyml.params import LutParams, UnaryF32Params
    assert safe_gap(K("tml_lut_s8", LutParams(8, tuple(range(-128, 128))), ()), 0) == 0
    assert safe_gap(K("tml_neg_f32", UnaryF32Params(8), ()), 0) == 0
    rep = assert_bit_exact(opplan_models(case), tmp_path / "out", options=CompileOptions(patch="off"))
    assert any(o["gap"] == 0 for o in rep["memory"]["overlaps"]), rep["memory"]["overlaps"]
