"""The data-driven op test plan (tests/opplan.py): Keras -> TFLiteConverter int8 -> tinyml C vs TFLM."""
from __future__ import annotations

import pytest
from conftest import needs_tflm
from helpers import assert_bit_exact
from opplan import PLAN

from tinyml.frontends.tflite import load_tflite

pytestmark = [needs_tflm()]

EXPECTED_OPS = {  # the plan must keep covering every supported operator
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "MEAN", "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "PAD",
    "CONCATENATION", "QUANTIZE", "DEQUANTIZE",
}
_seen: set[str] = set()


@pytest.mark.parametrize("case", [c["name"] for c in PLAN])
def test_op_case_bit_exact(case, opplan_models, tmp_path):
    model = opplan_models(case)
    _seen.update(op.kind.value for op in load_tflite(model).ops)
    assert_bit_exact(model, tmp_path / "out")


def test_plan_covers_every_supported_op(opplan_models):
    for c in PLAN:
        _seen.update(op.kind.value for op in load_tflite(opplan_models(c["name"])).ops)
    assert EXPECTED_OPS <= _seen, f"not covered: {sorted(EXPECTED_OPS - _seen)}"
