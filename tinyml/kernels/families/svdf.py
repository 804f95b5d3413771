"""The svdf family (codegen/templates/kernels/svdf.c.j2): SVDF's feature matmul as SIMD dot products, four filters
per pass."""
from __future__ import annotations

from ...ir import Graph
from ...params import Kernel, SvdfParams
from ..special import Const, Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """SVDF of up to 512 filters with the DSP extension or Helium (VMLADAVA over sixteen values, a predicated
    tail): the feature matmul as SIMD dot products of constant
    length, four filters per pass (their int32 sums on the stack: up to 2 KB); an int16 state's time dot products
    as SMLAD on pairs."""
    p = kern.params
    if not isinstance(p, SvdfParams):
        return None
    if not (isa in ("dsp", "mve") and p.filters <= 512):
        return None
    return Special(FAMILY, isa, (("I", p.input_size), ("F", p.filters), ("M", p.memory), ("RANK", p.rank),
                                 ("BITS", 16 if kern.func == "tml_svdf_s8" else 8),
                                 ("KI", (p.input_size // 4) * 4)))


def _name(sp: Special) -> str:
    c = dict(sp.consts)
    return f"svdf_i{c['I']}_f{c['F']}_m{c['M']}_r{c['RANK']}_s{c['BITS']}_{sp.isa}"


def _stack(sp: Special) -> int:
    """The filters' feature sums."""
    return 4 * sp.const("F")


def _derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """The weights, time weights and bias as they are."""
    return tuple(kern.args[1:4])


FAMILY = Family("svdf", ("tml_svdf_s8", "tml_svdf_s8_s8state"), select, _name, stack=_stack, derived=_derived,
                mve=True)
