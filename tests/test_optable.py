"""The operator table against TFLM (docs/operators.md) and refusals that name the exact operator and types."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyml.errors import UnsupportedOpError
from tinyml.frontends.tflite import SUPPORTED_OPS
from tinyml.ir import DType, GraphBuilder, OpKind, Quant, SoftmaxAttrs
from tinyml.lower import lower
from tinyml.optable import CONSTANT_ONLY, TFLM_BUILTINS, markdown, reason, status

ROOT = Path(__file__).resolve().parents[1]


def test_operator_doc_is_current():
    doc = (ROOT / "docs" / "operators.md").read_text()
    assert doc == markdown(frozenset(SUPPORTED_OPS)), "regenerate: python benchmarks/operator_table.py > " \
        "docs/operators.md"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "operator_table.py")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == doc


def test_every_tflm_builtin_has_a_status():
    for name in TFLM_BUILTINS:
        what, detail = status(name, frozenset(SUPPORTED_OPS))
        assert what in ("compiled", "constants only", "refused")
        assert what == "compiled" or detail, name  # a refusal always says why
    assert status("CONV_2D", frozenset(SUPPORTED_OPS))[0] == "compiled"
    assert set(CONSTANT_ONLY) <= set(SUPPORTED_OPS)  # the importer maps them (and folds them)
    assert reason("MIRROR_PAD").startswith("TFLM runs it")


def _one_op(kind, x_dtype, y_dtype, xq, yq, attrs=None):
    b = GraphBuilder()
    x = b.tensor("x", (1, 10), x_dtype, xq)
    y = b.tensor("y", (1, 10), y_dtype, yq)
    b.op(kind, (x,), (y,), attrs)
    return b.build("m", (x,), (y,))


@pytest.mark.parametrize("kind,xt,yt,xq,yq,attrs,words", [
    (OpKind.QUANTIZE, DType.FLOAT32, DType.UINT8, None, Quant((0.1,), (3,)), None,
     ["QUANTIZE from float32 to uint8", "uint8 -> int8", "float32 -> int16"]),
    (OpKind.QUANTIZE, DType.UINT8, DType.INT16, Quant((0.1,), (3,)), Quant((0.1,), (0,)), None,
     ["QUANTIZE from uint8 to int16", "int16 -> int32"]),
    (OpKind.DEQUANTIZE, DType.INT32, DType.FLOAT32, Quant((0.1,), (0,)), None, None,
     ["DEQUANTIZE from int32 to float32", "uint8 -> float32"]),
    (OpKind.SOFTMAX, DType.INT8, DType.INT32, Quant((0.1,), (0,)), Quant((1 / 256,), (-128,)), SoftmaxAttrs(1.0),
     ["SOFTMAX from int8 to int32", "int8 -> int16"]),
])
def test_type_refusals_name_operator_and_types(kind, xt, yt, xq, yq, attrs, words):
    with pytest.raises(UnsupportedOpError) as e:
        lower(_one_op(kind, xt, yt, xq, yq, attrs))
    for w in words:
        assert w in str(e.value)
    assert f"operator 0 ({kind.value} {xt.value} -> {yt.value}" in str(e.value)  # the exact types, in front


def test_quantize_pairs_in_the_reference():
    """Every integer pair of QUANTIZE saturates to the output type (TFLM's Requantize)."""
    from tinyml.interpreter import run_reference
    for xt, yt, x in [(DType.UINT8, DType.INT8, np.array([[0, 1, 127, 128, 255] * 2], np.uint8)),
                      (DType.INT8, DType.UINT8, np.array([[-128, -1, 0, 1, 127] * 2], np.int8)),
                      (DType.INT16, DType.INT32, np.array([[-32768, -5, 0, 7, 32767] * 2], np.int16))]:
        g = _one_op(OpKind.QUANTIZE, xt, yt, Quant((0.5,), (128 if xt is DType.UINT8 else 0,)),
                    Quant((0.5,), (0 if yt is not DType.UINT8 else 128,)))
        y = run_reference(g, [x])[0]
        assert y.dtype == yt.numpy
        want = x.astype(np.int64) - (128 if xt is DType.UINT8 else 0) + (128 if yt is DType.UINT8 else 0)
        info = np.iinfo(yt.numpy)
        assert np.array_equal(y, np.clip(want, info.min, info.max))


def test_constant_folding_of_shape_arithmetic():
    """SHAPE and ZEROS_LIKE depend on the input's shape only; REDUCE_PROD, FLOOR_DIV, CAST on constants are
    computed at import as TFLM's integer kernels compute them; an output of the model is never folded."""
    from tinyml.fold import fold, foldable
    from tinyml.ir import MeanAttrs, NoAttrs, Op, ShapeAttrs, Tensor
    q = Quant((0.5,), (3,))
    x = Tensor("x", (1, 4, 3), DType.INT8, q)
    z = Tensor("z", (1, 4, 3), DType.INT8, q)
    s = Tensor("s", (3,), DType.INT32)
    ax = Tensor("ax", (1,), DType.INT32, None, np.array([0], np.int32))
    p = Tensor("p", (), DType.INT32)
    two = Tensor("two", (1,), DType.INT32, None, np.array([-5], np.int32))
    d = Tensor("d", (3,), DType.INT32)
    f = Tensor("f", (3,), DType.FLOAT32)
    ts = [x, z, s, ax, p, two, d, f]
    assert fold(ts, Op(OpKind.ZEROS_LIKE, (0,), (1,), NoAttrs())).data.tolist() == [[[0] * 3] * 4]
    ts[2] = fold(ts, Op(OpKind.SHAPE, (0,), (2,), ShapeAttrs(DType.INT32)))
    assert ts[2].data.tolist() == [1, 4, 3]
    assert fold(ts, Op(OpKind.REDUCE_PROD, (2, 3), (4,), MeanAttrs((0,), False))).data.tolist() == 12
    assert fold(ts, Op(OpKind.FLOOR_DIV, (2, 5), (6,), NoAttrs())).data.tolist() == [-1, -1, -1]
    assert fold(ts, Op(OpKind.CAST, (2,), (7,), NoAttrs())).data.dtype == np.float32
    assert not foldable(ts, Op(OpKind.SHAPE, (0,), (2,), ShapeAttrs(DType.INT32)), (2,))  # a model output
    assert not foldable(ts, Op(OpKind.CAST, (0,), (7,), NoAttrs()), ())  # reads an activation


def test_no_refusal_reason_kept_for_a_compiled_operator():
    """A reason in the table is what a user reads when the importer refuses the operator; one kept for an operator
    the importer maps would contradict it."""
    from tinyml.frontends.tflite import SUPPORTED_OPS
    from tinyml.optable import REASONS
    assert not set(REASONS) & set(SUPPORTED_OPS), sorted(set(REASONS) & set(SUPPORTED_OPS))
