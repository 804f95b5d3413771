"""The patterns common in published models, each made here with TensorFlow's converter: uint8 model inputs and
outputs around an int8 graph (`inference_input_type=tf.uint8`, how ST publishes its image models), and a Keras
Reshape under a dynamic batch, which converts to SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (folded to a constant
at import). Each compiled and bit-exact with the `tflite-micro` interpreter."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from conftest import needs_tflm, tf_available
from oracle import tflm_run

import tinyml
from tinyml.compiler import CompileOptions, compile_model, read_report

pytestmark = [needs_tflm(), pytest.mark.slow,
              pytest.mark.skipif(not tf_available(), reason="tensorflow-cpu makes the test models: pip install "
                                 "'.[test]'")]


def _convert(model, shape, io_type) -> bytes:
    from opplan import convert_keras
    return convert_keras(model, [shape], io_type="uint8" if io_type.name == "uint8" else None)


def _keras(seed: int):
    """TensorFlow and Keras, quiet and seeded."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)
    return tf, tf.keras


def _ops(model: bytes) -> list[str]:
    import tflite
    m = tflite.Model.GetRootAsModel(model, 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    sg = m.Subgraphs(0)
    return [names[max(m.OperatorCodes(sg.Operators(k).OpcodeIndex()).BuiltinCode(),
                      m.OperatorCodes(sg.Operators(k).OpcodeIndex()).DeprecatedBuiltinCode())]
            for k in range(sg.OperatorsLength())]


def _bit_exact(model: bytes, tmp_path, dtype, shape, seeds=3):
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    out = tmp_path / "out"
    compile_model(path, out, CompileOptions())
    info = np.iinfo(dtype)
    for seed in range(seeds):
        x = np.random.RandomState(seed).randint(info.min, info.max + 1, (1,) + shape).astype(dtype)
        want = tflm_run(model, [x], 1)[0]
        got = tinyml.run(out, [x])[0]
        assert got.dtype == want.dtype and np.array_equal(got, want.reshape(got.shape)), seed
    return out


def test_uint8_model_input_and_output(tmp_path):
    tf, keras = _keras(0)
    shape = (12, 12, 3)
    x = keras.Input(shape, batch_size=1)
    y = keras.layers.Conv2D(8, 3, activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4)(y)
    model = _convert(keras.Model(x, y), shape, tf.uint8)
    ops = _ops(model)
    assert ops[0] == "QUANTIZE" and ops[-1] == "QUANTIZE", ops  # uint8 -> int8 ... int8 -> uint8
    out = _bit_exact(model, tmp_path, np.uint8, shape)
    rep = read_report(out)
    assert rep["inputs"][0]["dtype"] == "uint8" and rep["outputs"][0]["dtype"] == "uint8"
    # the API converts real values to the uint8 input and back, as model_quantize_input_f32 does
    real = np.random.RandomState(5).uniform(-1.2, 1.2, (1,) + shape).astype(np.float32)
    q = tinyml.quantize_input(out, real)
    assert q.dtype == np.uint8 and q.min() >= 0
    s, z = rep["inputs"][0]["scale"], rep["inputs"][0]["zero_point"]
    assert np.allclose((q.astype(np.float32) - z) * s, np.clip(real, (0 - z) * s, (255 - z) * s), atol=s / 2 + 1e-6)
    y = tinyml.run(out, [q])[0]
    assert tinyml.dequantize_output(out, y).dtype == np.float32
    header = (out / "model.h").read_text()
    assert "uint8_t [1, 12, 12, 3], scale" in header and "MODEL_INPUT0_ZERO_POINT" in header
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", [q])
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True


def test_keras_dynamic_reshape_is_folded(tmp_path):
    """A Keras Reshape under a dynamic batch converts to SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (what Silicon
    Labs' MLTK autoencoder holds); for the batch of 1 in the file, every one of them is a constant."""
    tf, keras = _keras(1)
    shape = (5, 16, 1)
    x = keras.Input(shape)  # no batch size: the converter keeps the reshape's batch dynamic
    y = keras.layers.Reshape((80,))(x)
    y = keras.layers.Dense(16, activation="relu")(y)
    y = keras.layers.Dense(80)(y)
    y = keras.layers.Reshape((5, 16, 1))(y)
    model = _convert(keras.Model(x, y), shape, tf.int8)
    ops = _ops(model)
    assert ops.count("SHAPE") == 2 and "PACK" in ops and "STRIDED_SLICE" in ops, ops
    out = _bit_exact(model, tmp_path, np.int8, shape)
    layers = [layer["op"] for layer in read_report(out)["layers"]]
    assert layers == ["RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "RESHAPE"], layers


def test_slice_and_padv2(tmp_path):
    """tf.slice converts to SLICE (a STRIDED_SLICE with unit strides, size -1 to the end) and tf.pad with a
    constant value to PADV2 (the value quantized into a constant input)."""
    tf, keras = _keras(2)
    shape = (9, 9, 4)
    x = keras.Input(shape, batch_size=1)
    y = keras.layers.Conv2D(6, 1)(x)
    y = keras.layers.Lambda(lambda t: tf.slice(t, [0, 1, 2, 1], [1, 6, -1, 4]))(y)
    y = keras.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.75))(y)
    y = keras.layers.Conv2D(3, 3)(y)
    model = _convert(keras.Model(x, y), shape, tf.int8)
    ops = _ops(model)
    assert "SLICE" in ops and "PADV2" in ops, ops
    _bit_exact(model, tmp_path, np.int8, shape)


def test_mirror_pad_and_broadcast_to(tmp_path):
    """MIRROR_PAD (REFLECT and SYMMETRIC, height and width: audio and image models pad so) and BROADCAST_TO (a
    pooled context broadcast over the image and concatenated), converter-made, bit-exact with TFLM."""
    tf, keras = _keras(3)
    shape = (7, 6, 4)
    x = keras.Input(shape, batch_size=1)
    y = keras.layers.Conv2D(5, 1)(x)
    y = keras.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [2, 1], [1, 2], [0, 0]], mode="REFLECT"))(y)
    y = keras.layers.Conv2D(4, 3)(y)
    y = keras.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 0], [0, 3], [0, 0]], mode="SYMMETRIC"))(y)
    z = keras.layers.Conv2D(4, 1)(keras.layers.GlobalAveragePooling2D(keepdims=True)(x))
    z = keras.layers.Lambda(lambda t: tf.broadcast_to(t, [1, 9, 10, 4]))(z)
    y = keras.layers.Concatenate()([y, z])
    model = _convert(keras.Model(x, y), shape, tf.int8)
    ops = _ops(model)
    assert ops.count("MIRROR_PAD") == 2 and "BROADCAST_TO" in ops, ops
    _bit_exact(model, tmp_path, np.int8, shape)


def test_comparisons_feeding_select_v2(tmp_path):
    """The six comparisons on int8 operands quantized differently (TFLM rescales both), broadcast, each feeding
    SELECT_V2 (tf.where with broadcasting), converter-made, bit-exact with TFLM."""
    tf, keras = _keras(4)
    shape = (6, 6, 4)
    x = keras.Input(shape, batch_size=1)
    a = keras.layers.Conv2D(4, 1)(x)
    g = keras.layers.GlobalAveragePooling2D(keepdims=True)(keras.layers.Conv2D(4, 3, padding="same")(x))
    outs = []
    for cmp in (tf.equal, tf.not_equal, tf.less, tf.less_equal, tf.greater, tf.greater_equal):
        outs.append(keras.layers.Lambda(lambda t, f=cmp: tf.where(f(t[0], t[1]), t[0], t[1]))([a, g]))
    model = _convert(keras.Model(x, keras.layers.Concatenate()(outs)), shape, tf.int8)
    ops = _ops(model)
    assert ops.count("SELECT_V2") == 6 and {"LESS", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"} <= set(ops), ops
    out = _bit_exact(model, tmp_path, np.int8, shape, seeds=4)
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):  # the new kernels on a Cortex-M4
        from tinyml.harness.firmware import emulate
        x = np.random.RandomState(9).randint(-128, 128, (1,) + shape).astype(np.int8)
        res = emulate(out, "mps2-an386", [x])
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0].reshape(-1), tflm_run(model, [x], 1)[0].reshape(-1))


def test_dynamic_shapes_beyond_the_batch_are_explained(tmp_path):
    """A Keras Dense on 3-D data under a dynamic batch leaves placeholder shapes in the file, which TFLM cannot
    allocate either: the refusal says why and what to do."""
    from tinyml.errors import TinymlError
    tf, keras = _keras(1)
    x = keras.Input((8, 8, 2))
    y = keras.layers.Reshape((16, 8))(keras.layers.Conv2D(2, 3, padding="same")(x))
    model = _convert(keras.Model(x, keras.layers.Dense(6)(y)), (8, 8, 2), tf.int8)
    (tmp_path / "m.tflite").write_bytes(model)
    with pytest.raises(TinymlError) as e:
        compile_model(tmp_path / "m.tflite", tmp_path / "out", CompileOptions())
    assert "shape signature" in str(e.value) and "batch_size=1" in str(e.value)
    with pytest.raises(RuntimeError):  # TFLM: "failed to allocate tensors"
        tflm_run(model, [np.zeros((1, 8, 8, 2), np.int8)], 1)


def test_float_island_arithmetic(tmp_path):
    """ADD, SUB, MUL (with broadcasting and a fused RELU6) on DEQUANTIZEd values between int8 layers, as
    detectors' box decoding leaves them: one IEEE operation per element, TFLM's bits. Written with tinyml's .tflite
    writer (the converter quantizes such arithmetic)."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import Activation, DType, ElementwiseAttrs, GraphBuilder, NoAttrs, OpKind, Quant
    b = GraphBuilder()
    q = Quant((0.05,), (3,))
    x = b.tensor("x", (1, 4, 5, 3), DType.INT8, q)
    xr = b.tensor("xr", (1, 4, 5, 3), DType.INT8, Quant((0.03,), (-20,)))
    b.op(OpKind.RELU, (x,), (xr,), NoAttrs())  # an int8 layer before the island
    xf = b.tensor("xf", (1, 4, 5, 3), DType.FLOAT32)
    b.op(OpKind.DEQUANTIZE, (xr,), (xf,), NoAttrs())
    k = b.tensor("k", (3,), DType.FLOAT32, data=np.array([0.5, -1.25, 2.0], np.float32))
    m = b.tensor("m", (1, 4, 5, 3), DType.FLOAT32)
    b.op(OpKind.MUL, (xf, k), (m,), ElementwiseAttrs(Activation.NONE))
    a = b.tensor("a", (1, 4, 5, 3), DType.FLOAT32)
    b.op(OpKind.ADD, (m, xf), (a,), ElementwiseAttrs(Activation.RELU6))
    s = b.tensor("s", (1, 4, 5, 3), DType.FLOAT32)
    b.op(OpKind.SUB, (a, k), (s,), ElementwiseAttrs(Activation.NONE))
    y = b.tensor("y", (1, 4, 5, 3), DType.INT8, Quant((0.04,), (-5,)))
    b.op(OpKind.QUANTIZE, (s,), (y,), NoAttrs())
    model = write_tflite(b.build("island", (x,), (y,)))
    out = _bit_exact(model, tmp_path, np.int8, (4, 5, 3), seeds=4)
    assert [i["op"] for i in read_report(out)["float_islands"]] == ["MUL", "ADD", "SUB"]


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.05, 3, 0.03, -40), (0.11, -100, 0.02, 0),
                                                     (0.01, 20, 0.05, 127)])
def test_elu_every_int8_input(tmp_path, s_in, zp_in, s_out, zp_out):
    """int8 ELU (TFLM's float32 lookup table, computed at generation time) on all 256 input values, bit-exact
    with TFLM. TensorFlow's converter here leaves ELU in float32 (DEQUANTIZE -> ELU -> QUANTIZE: libm's expm1,
    refused), so the model is written with tinyml's .tflite writer, as other converters write it."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, GraphBuilder, NoAttrs, OpKind, Quant
    b = GraphBuilder()
    x = b.tensor("x", (1, 256), DType.INT8, Quant((s_in,), (zp_in,)))
    y = b.tensor("y", (1, 256), DType.INT8, Quant((s_out,), (zp_out,)))
    b.op(OpKind.ELU, (x,), (y,), NoAttrs())
    model = write_tflite(b.build("elu", (x,), (y,)))
    (tmp_path / "m.tflite").write_bytes(model)
    out = tmp_path / "out"
    compile_model(tmp_path / "m.tflite", out, CompileOptions())
    v = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    assert np.array_equal(tinyml.run(out, [v])[0], tflm_run(model, [v], 1)[0])


def test_space_to_batch_and_back(tmp_path):
    """SPACE_TO_BATCH_ND with paddings (a raw 0, not the zero point: what TFLM writes there) and
    BATCH_TO_SPACE_ND with crops, as older converters left them around dilated convolutions; converter-made,
    bit-exact with TFLM (the padded values reach the output: nothing clamps them)."""
    tf, keras = _keras(5)
    shape = (9, 10, 3)
    x = keras.Input(shape, batch_size=1)
    y = keras.layers.Conv2D(4, 1)(x)
    y = keras.layers.Lambda(lambda t: tf.space_to_batch_nd(t, [2, 3], [[1, 2], [0, 2]]))(y)
    y = keras.layers.Lambda(lambda t: t * 0.5)(y)
    y = keras.layers.Lambda(lambda t: tf.compat.v1.batch_to_space_nd(t, [2, 3], [[0, 1], [1, 0]]))(y)
    model = _convert(keras.Model(x, y), shape, tf.int8)
    ops = _ops(model)
    assert "SPACE_TO_BATCH_ND" in ops and "BATCH_TO_SPACE_ND" in ops, ops
    from tinyml.frontends.tflite import load_tflite
    g = load_tflite(tmp_path.joinpath("m.tflite").write_bytes(model) and tmp_path / "m.tflite")
    s2b = next(op for op in g.ops if op.kind.value == "SPACE_TO_BATCH_ND")
    assert g.tensor(s2b.outputs[0]).zero_point != 0  # so a padding of the zero point would differ from TFLM's
    _bit_exact(model, tmp_path, np.int8, shape, seeds=3)  # its kernels run on QEMU in the logical/CAST test


def test_logical_operators_and_cast(tmp_path):
    """LOGICAL_AND, LOGICAL_OR (broadcast), LOGICAL_NOT on comparisons' bool outputs, and CAST of bool and int8
    values to int8, int32 and float32, bit-exact with TFLM (written with tinyml's .tflite writer); with a
    SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND pair, on QEMU as well."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, GraphBuilder, NoAttrs, OpKind, Quant, SpaceBatchAttrs
    b = GraphBuilder()
    x = b.tensor("x", (1, 4, 6), DType.INT8, Quant((0.05,), (3,)))
    lo = b.tensor("lo", (1,), DType.INT8, Quant((0.1,), (0,)), np.array([-2], np.int8))
    hi = b.tensor("hi", (1, 1, 6), DType.INT8, Quant((0.02,), (-10,)), np.array([[[40, 70, 100, -60, 0, 20]]],
                                                                                  np.int8))
    above, below = b.tensor("above", (1, 4, 6), DType.BOOL), b.tensor("below", (1, 4, 6), DType.BOOL)
    b.op(OpKind.GREATER, (x, lo), (above,), NoAttrs())
    b.op(OpKind.LESS, (x, hi), (below,), NoAttrs())
    both, notb, either = (b.tensor(n, (1, 4, 6), DType.BOOL) for n in ("both", "notb", "either"))
    b.op(OpKind.LOGICAL_AND, (above, below), (both,), NoAttrs())
    b.op(OpKind.LOGICAL_NOT, (below,), (notb,), NoAttrs())
    b.op(OpKind.LOGICAL_OR, (above, notb), (either,), NoAttrs())
    outs = []
    for src, dtype in ((both, DType.INT8), (either, DType.FLOAT32), (x, DType.INT32)):
        outs.append(b.tensor(f"cast_{len(outs)}", (1, 4, 6), dtype))
        b.op(OpKind.CAST, (src,), (outs[-1],), NoAttrs())
    # and SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND, so that their kernels run on QEMU too
    x4, s2b, back = (b.tensor(n, sh, DType.INT8, Quant((0.05,), (3,))) for n, sh in (
        ("x4", (1, 4, 6, 1)), ("s2b", (4, 3, 4, 1)), ("back", (1, 4, 6, 1))))
    b.op(OpKind.RESHAPE, (x, b.const("shape4", np.array([1, 4, 6, 1], np.int32), DType.INT32)), (x4,), NoAttrs())
    block = b.const("block", np.array([2, 2], np.int32), DType.INT32)
    pads = b.const("pads", np.array([[1, 1], [0, 2]], np.int32), DType.INT32)  # paddings, then the same as crops
    attrs = SpaceBatchAttrs((2, 2), ((1, 1), (0, 2)))
    b.op(OpKind.SPACE_TO_BATCH_ND, (x4, block, pads), (s2b,), attrs)
    b.op(OpKind.BATCH_TO_SPACE_ND, (s2b, block, pads), (back,), attrs)
    outs.append(back)
    model = write_tflite(b.build("logical", (x,), tuple(outs)))
    (tmp_path / "m.tflite").write_bytes(model)
    out = tmp_path / "out"
    compile_model(tmp_path / "m.tflite", out, CompileOptions())
    for seed in range(3):
        v = np.random.RandomState(seed).randint(-128, 128, (1, 4, 6)).astype(np.int8)
        want = tflm_run(model, [v], len(outs))
        got = tinyml.run(out, [v])
        for g_, w in zip(got, want):
            assert g_.dtype == w.dtype and np.array_equal(g_, w), (seed, g_, w)
        assert 0 < want[0].sum() < want[0].size  # both values occur
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):  # the new kernels on a Cortex-M4
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", [np.random.RandomState(3).randint(-128, 128, (1, 4, 6)).astype(np.int8)])
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True


def test_float_island_rounding_and_sqrt(tmp_path):
    """FLOOR, CEIL, ROUND (half to even: values land on halves) and SQRT on DEQUANTIZEd values, each quantized
    back: exact IEEE operations, TFLM's bits (written with tinyml's .tflite writer)."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, GraphBuilder, NoAttrs, OpKind, Quant
    b = GraphBuilder()
    x = b.tensor("x", (1, 64), DType.INT8, Quant((0.25,), (1,)))  # steps of 1/4: halves occur
    xr = b.tensor("xr", (1, 64), DType.INT8, Quant((0.25,), (1,)))
    b.op(OpKind.RELU6, (x,), (xr,), NoAttrs())
    xf = b.tensor("xf", (1, 64), DType.FLOAT32)
    b.op(OpKind.DEQUANTIZE, (x,), (xf,), NoAttrs())
    sq = b.tensor("sq", (1, 64), DType.FLOAT32)
    b.op(OpKind.SQUARE, (xf,), (sq,), NoAttrs())
    outs = [xr]
    for kind, src in ((OpKind.FLOOR, xf), (OpKind.CEIL, xf), (OpKind.ROUND, xf), (OpKind.SQRT, sq)):
        f = b.tensor(f"{kind.value}_f", (1, 64), DType.FLOAT32)
        b.op(kind, (src,), (f,), NoAttrs())
        outs.append(b.tensor(kind.value.lower(), (1, 64), DType.INT8, Quant((0.5,), (0,))))
        b.op(OpKind.QUANTIZE, (f,), (outs[-1],), NoAttrs())
    model = write_tflite(b.build("rounding", (x,), tuple(outs)))
    (tmp_path / "m.tflite").write_bytes(model)
    out = tmp_path / "out"
    compile_model(tmp_path / "m.tflite", out, CompileOptions())
    v = np.arange(-128, 128, 4, dtype=np.int8).reshape(1, 64)
    for g_, w in zip(tinyml.run(out, [v]), tflm_run(model, [v], len(outs))):
        assert g_.dtype == w.dtype and np.array_equal(g_, w)


def test_16x8_standalone_activations(tmp_path):
    """RELU, RELU6 and LEAKY_RELU on int16 activations (16x8 models; standalone after a CONCATENATION, where the
    converter cannot fuse them), and MAXIMUM/MINIMUM, bit-exact with TFLM."""
    from opplan import convert_keras
    tf, keras = _keras(6)
    shape = (6, 6, 3)
    x = keras.Input(shape, batch_size=1)
    a = keras.layers.Conv2D(4, 3, padding="same")(x)
    c = keras.layers.Concatenate()([a, keras.layers.Conv2D(2, 1)(x)])
    c2 = keras.layers.Concatenate()([keras.layers.Conv2D(3, 1)(x), a])
    outs = [keras.layers.ReLU()(c), keras.layers.ReLU(max_value=6.0)(c2), keras.layers.LeakyReLU(0.2)(c),
            keras.layers.Maximum()([c, c2[..., :6]]), keras.layers.Minimum()([c, c2[..., 1:7]])]
    model = convert_keras(keras.Model(x, keras.layers.Concatenate()(outs)), [shape], mode="16x8")
    ops = _ops(model)
    assert {"RELU", "RELU6", "LEAKY_RELU", "MAXIMUM", "MINIMUM"} <= set(ops), ops
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    out = tmp_path / "out"
    compile_model(path, out, CompileOptions())
    for seed in range(3):
        v = np.random.RandomState(seed).randint(-32768, 32768, (1,) + shape).astype(np.int16)
        assert np.array_equal(tinyml.run(out, [v])[0], tflm_run(model, [v], 1)[0]), seed


@pytest.mark.parametrize("depth,gain", [(12, 3.0), (35, 0.4)])
def test_log_softmax(tmp_path, depth, gain):
    """int8 LOG_SOFTMAX (TFLM's integer LogSoftmax: exps summed in Q12, gemmlowp's fixed-point log), converter-made
    with two input scales, bit-exact with TFLM on 20 inputs; on QEMU for one of them."""
    from opplan import convert_keras
    tf, keras = _keras(7)
    x = keras.Input((20,), batch_size=1)
    y = keras.layers.Lambda(lambda t: tf.nn.log_softmax(t * gain))(keras.layers.Dense(depth)(x))
    model = convert_keras(keras.Model(x, y), [(20,)])
    assert _ops(model)[-1] == "LOG_SOFTMAX", _ops(model)
    out = _bit_exact(model, tmp_path, np.int8, (20,), seeds=20)
    if depth == 12 and shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", [np.random.RandomState(3).randint(-128, 128, (1, 20)).astype(np.int8)])
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True


def test_quantize_to_and_from_int32(tmp_path):
    """QUANTIZE int8 -> int32, int32 -> int8 and int32 -> int16 (TFLM's Requantize), the pairs no published model
    here has, bit-exact with TFLM over the whole int8 range and large int32 values (written with tinyml's writer)."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, GraphBuilder, NoAttrs, OpKind, Quant
    b = GraphBuilder()
    x8 = b.tensor("x8", (1, 256), DType.INT8, Quant((0.05,), (7,)))
    x32 = b.tensor("x32", (1, 256), DType.INT32, Quant((0.001,), (0,)))
    outs = [b.tensor("o32", (1, 256), DType.INT32, Quant((0.0003,), (-9,))),
            b.tensor("o8", (1, 256), DType.INT8, Quant((0.4,), (-3,))),
            b.tensor("o16", (1, 256), DType.INT16, Quant((0.01,), (0,)))]
    for src, dst in ((x8, outs[0]), (x32, outs[1]), (x32, outs[2])):
        b.op(OpKind.QUANTIZE, (src,), (dst,), NoAttrs())
    model = write_tflite(b.build("requantize32", (x8, x32), tuple(outs)))
    (tmp_path / "m.tflite").write_bytes(model)
    out = tmp_path / "out"
    compile_model(tmp_path / "m.tflite", out, CompileOptions())
    xs = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256),
          np.random.RandomState(0).randint(-400000, 400000, (1, 256)).astype(np.int32)]
    for g_, w in zip(tinyml.run(out, xs), tflm_run(model, xs, 3)):
        assert g_.dtype == w.dtype and np.array_equal(g_, w)


@pytest.mark.parametrize("count,quant", [(2, ((0.05, 3), (0.03, -40))), (3, ((0.11, -100), (0.2, 0))),
                                         (8, ((0.01, 20), (0.05, 127)))])
def test_add_n(tmp_path, count, quant):
    """int8 ADD_N of 2, 3 and 8 inputs of one quantization (TFLM's reference AddN, whose sum starts from the
    rescaled input offset), bit-exact with TFLM on every int8 value of the first input; on QEMU for three inputs.
    Written with tinyml's .tflite writer (TensorFlow's converter leaves add_n in float32: test_add_n_float_island)."""
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import DType, GraphBuilder, NoAttrs, OpKind, Quant
    (s_in, zp_in), (s_out, zp_out) = quant
    b = GraphBuilder()
    xs = [b.tensor(f"x{k}", (1, 256), DType.INT8, Quant((s_in,), (zp_in,))) for k in range(count)]
    y = b.tensor("y", (1, 256), DType.INT8, Quant((s_out,), (zp_out,)))
    b.op(OpKind.ADD_N, tuple(xs), (y,), NoAttrs())
    model = write_tflite(b.build("add_n", tuple(xs), (y,)))
    (tmp_path / "m.tflite").write_bytes(model)
    out = tmp_path / "out"
    compile_model(tmp_path / "m.tflite", out, CompileOptions())
    rs = np.random.RandomState(count)
    vs = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256)] + \
        [rs.randint(-128, 128, (1, 256)).astype(np.int8) for _ in range(count - 1)]
    want = tflm_run(model, vs, 1)[0]
    assert np.array_equal(tinyml.run(out, vs)[0], want)
    assert np.array_equal(tinyml.run(tmp_path / "m.tflite", vs, reference=True)[0], want)
    if count == 3 and shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", vs)
        assert res["outputs_match_host"] and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0], want)


def test_add_n_float_island(tmp_path):
    """tf.math.add_n of three int8 Dense outputs: TensorFlow's converter leaves ADD_N in float32 between
    DEQUANTIZEs and a QUANTIZE; compiled as a float island (the IEEE sum in input order), bit-exact with TFLM."""
    from opplan import convert_keras
    tf, keras = _keras(5)
    x = keras.Input((8,), batch_size=1)
    parts = [keras.layers.Dense(8)(x) for _ in range(3)]
    y = keras.layers.Lambda(lambda ts: tf.math.add_n(ts))(parts)
    model = convert_keras(keras.Model(x, y), [(8,)])
    assert "ADD_N" in _ops(model) and "DEQUANTIZE" in _ops(model), _ops(model)
    out = _bit_exact(model, tmp_path, np.int8, (8,), seeds=10)
    assert "ADD_N" in [i["op"] for i in read_report(out)["float_islands"]]
