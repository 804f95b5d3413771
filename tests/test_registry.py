"""The kernel registry (tinyml/kernels/registry.py) is complete and consistent: one row per runtime C kernel,
each with its sources and its reference, every parameter dataclass with its C struct."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tinyml.params as params_module
from tinyml import ops
from tinyml.frontends.tflite import SUPPORTED_OPS
from tinyml.ir import OpKind
from tinyml.kernels.registry import KERNELS

ROOT = Path(__file__).resolve().parents[1]
HEADER = (ROOT / "runtime_c" / "include" / "tml_nn.h").read_text()
DECLARED = set(re.findall(r"^void (tml_\w+)\(", HEADER, re.M))


def test_every_declared_kernel_has_a_row_and_every_row_a_declaration():
    assert len(DECLARED) > 100
    assert set(KERNELS) == DECLARED, (sorted(DECLARED - set(KERNELS)), sorted(set(KERNELS) - DECLARED))


def test_rows_name_existing_sources_that_define_them():
    for row in KERNELS.values():
        assert row.sources, row.func
        text = ""
        for s in row.sources:
            path = ROOT / "runtime_c" / "src" / s
            assert path.is_file(), (row.func, s)
            text += path.read_text()
        assert re.search(rf"\b{row.func}\b", text), f"{row.func} is not in {row.sources}"


def test_rows_without_reference_run_only_inside_techniques():
    """The reference executor runs the lowering's whole-tensor calls; only the kernels a patch stage or the
    in-place technique substitutes for them may lack a reference of their own."""
    bands = {f for row in KERNELS.values() if row.band for f in row.band}
    assert all(f in KERNELS for f in bands)
    substitutes = bands | {"tml_copy_rect", "tml_depthwise_conv_inplace_s8"}
    assert {f for f, row in KERNELS.items() if row.reference is None} == substitutes
    assert all(callable(row.reference) for f, row in KERNELS.items() if f not in substitutes)


def test_kernel_names_in_the_compiler_are_registered():
    """Every kernel name written out in the lowering and the memory techniques is a row (names built from an
    operator's name are covered by the header check above)."""
    for path in [*(ROOT / "tinyml" / "ops").glob("*.py"), *(ROOT / "tinyml" / "memory").glob("*.py")]:
        for line in path.read_text().splitlines():
            if "+" in line:  # a name put together from parts
                continue
            for name in re.findall(r'"(tml_\w+)"', line):
                if not name.endswith(("_params", "_")):  # a struct, or a prefix the code tests names against
                    assert name in KERNELS, f"{path.name}: {name}"


def test_every_parameter_dataclass_has_its_c_struct():
    params = [c for m in (params_module, *ops.FAMILIES) for n, c in vars(m).items()
              if n.endswith("Params") and dataclasses.is_dataclass(c)]
    assert len(params) > 30
    for cls in params:
        struct = getattr(cls, "C_STRUCT", None)
        assert struct is not None, cls.__name__
        assert re.search(rf"\}} {struct};", HEADER), f"{cls.__name__}: {struct} is not in tml_nn.h"


def test_every_operator_row_is_complete():
    """Each operator a family lowers is one the importer maps, and every kernel its lowering names has a row; each
    structural check is for an operator some family lowers; every builtin TFLM registers is an OpKind (a new
    operator needs no change to the IR)."""
    from tinyml.optable import TFLM_BUILTINS
    lowered = {k.value for k in ops.LOWERINGS}
    assert lowered <= set(SUPPORTED_OPS), sorted(lowered - set(SUPPORTED_OPS))
    assert set(ops.CHECKS) <= set(ops.LOWERINGS), sorted(k.value for k in set(ops.CHECKS) - set(ops.LOWERINGS))
    assert {n for n in TFLM_BUILTINS} <= {k.value for k in OpKind}
    for family in ops.FAMILIES:  # every runtime kernel's row is in the family of the operators that call it
        for func, row in getattr(family, "KERNELS", {}).items():
            assert row.func == func and KERNELS[func] is row, func
