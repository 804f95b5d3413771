"""Numbers as C spells them in initializers: exact literals (floats in hexadecimal) and rows of them. The
templates that write C arrays (model weights, firmware inputs) take these rows as plain data."""
from __future__ import annotations

import numpy as np

ARRAY_ROW = 16


def c_literal(annotation: str, value: object) -> str:
    """`value` as a C literal of type `annotation` (double, float, else an integer)."""
    if annotation == "double":
        return float(value).hex()  # type: ignore[arg-type]
    if annotation == "float":
        return float(np.float32(value)).hex() + "f"  # type: ignore[arg-type]
    return str(int(value))  # type: ignore[call-overload]


def c_rows(values: np.ndarray, per_row: int = ARRAY_ROW) -> list[str]:
    """C initializer rows; float32 values as exact hexadecimal literals (a float constant in a float island)."""
    v = np.asarray(values)
    if v.dtype.kind == "f":
        flat = [c_literal("float", x) for x in v.reshape(-1)]
    else:
        ints = v.reshape(-1).astype(np.int64) if v.dtype.kind == "b" or v.itemsize <= 4 else None
        lo, hi = (int(ints.min()), int(ints.max())) if ints is not None and ints.size else (0, 1 << 62)
        if hi - lo < 1 << 16:  # int8/int16 values (weights: megabytes): each distinct value spelled once
            spelled = [str(i) for i in range(lo, hi + 1)]
            flat = [spelled[i] for i in (ints - lo).tolist()]  # type: ignore[operator]
        else:
            flat = [str(int(x)) for x in v.reshape(-1)]
    return [", ".join(flat[i:i + per_row]) for i in range(0, len(flat), per_row)]
