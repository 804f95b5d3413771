"""The C kernels: one registry row per runtime kernel (`registry`), and the kernels generated per layer signature
(`generated`: which one replaces a call, and the constants it is generated with)."""
from .generated import (
    ISAS,
    Const,
    Special,
    choose,
    chosen,
    derived,
    fits_int32,
    in_place,
    pixel_block,
    requant_records,
    resolve_isa,
    select,
    select_calls,
    short_blocks,
    wide_kernel,
    widened,
)
from .registry import KERNELS, KernelRow

__all__ = ["ISAS", "KERNELS", "Const", "KernelRow", "Special", "choose", "chosen", "derived", "fits_int32", "in_place",
           "pixel_block", "requant_records", "resolve_isa", "select", "select_calls", "short_blocks", "wide_kernel",
           "widened"]
