"""The C kernels: one registry row per runtime kernel (`registry`), the kernels generated per layer signature (one
module per family in `families`, what they share in `special`) and the one selector that picks them
(`generated`)."""
from .families import FAMILIES, call_blocks
from .generated import (
    ISAS,
    choose,
    chosen,
    derived,
    fits_int32,
    in_place,
    in_place_slower,
    pixel_block,
    resolve_isa,
    select,
    select_calls,
    simd,
    wide_kernel,
    widened,
)
from .registry import KERNELS, KernelRow
from .special import Const, Family, Special, requant_records

__all__ = ["FAMILIES", "ISAS", "KERNELS", "Const", "Family", "KernelRow", "Special", "choose", "chosen", "derived",
           "fits_int32", "in_place", "in_place_slower", "pixel_block", "requant_records", "resolve_isa", "select",
           "select_calls", "simd", "call_blocks", "wide_kernel", "widened"]
