"""The lstm family (codegen/templates/kernels/lstm.c.j2): UNIDIRECTIONAL_SEQUENCE_LSTM's gate products as SIMD dot
products of constant length."""
from __future__ import annotations

from ...ir import Graph
from ...params import Kernel, LstmParams
from ..special import Const, Family, Special


def select(kern: Kernel, isa: str) -> Special | None:
    """UNIDIRECTIONAL_SEQUENCE_LSTM with the DSP extension or Helium: the four gates' FCs of a unit as SIMD dot
    products of constant length (the zero points are folded in the runtime kernel's per-row constants already);
    the portable flavour keeps the runtime kernel."""
    p = kern.params
    if not isinstance(p, LstmParams):
        return None
    if isa not in ("dsp", "mve"):
        return None
    return Special(FAMILY, isa, (("I", p.input_size), ("U", p.units), ("KI", (p.input_size // 4) * 4),
                                 ("KU", (p.units // 4) * 4)))


def _name(sp: Special) -> str:
    return f"lstm_i{sp.const('I')}_u{sp.const('U')}_s8_{sp.isa}"


def _derived(sp: Special, kern: Kernel, g: Graph) -> tuple[int | Const, ...]:
    """The weights and biases as they are (the parameter struct holds the folded offsets)."""
    return tuple(kern.args[1:13])


FAMILY = Family("lstm", ("tml_lstm_s8",), select, _name, derived=_derived, mve=True)
