"""Exact safe overlap of a layer's output with an input it consumes for the last time: the analysis its kernel's
registry row names (`KernelRow.gap`; tinyml/access.py explains the method)."""
from __future__ import annotations

import functools

from ..access import gap_between
from ..kernels.registry import KERNELS
from ..params import Kernel

__all__ = ["gap_between", "safe_gap"]


@functools.lru_cache(maxsize=4096)
def safe_gap(kernel: Kernel, input_position: int, block: int = 1) -> int | None:
    """Smallest gap (bytes) by which `kernel`'s output must start below its input number `input_position` so that
    overlapping them is safe, or None when this kernel's access pattern is not analysed (then: no overlap).
    `block`: output pixels the kernel that runs it computes together (generated kernels: tinyml.kernels)."""
    p = kernel.params
    if getattr(p, "out_row_stride", 0) or getattr(p, "out_px_stride", 0):
        return None  # a strided slice of a larger output: its write order is not analysed
    row = KERNELS.get(kernel.func)
    if row is None or row.gap is None:
        return None
    return row.gap(p, input_position, block)
