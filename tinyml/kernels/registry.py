"""One row per runtime C kernel (`runtime_c/`): everything tinyml knows about the function in one place.

A row names the function, the runtime sources that define it, its NumPy reference (the semantics the reference
executor runs and the tests hold to TFLM) and what the memory planner may do with it (write a strided slice of a
larger output, take a reduction band by band, let its output grow into a dying input: `gap`, tinyml.access).
Each operator family (tinyml/ops/<family>.py) declares the rows of its kernels in its `KERNELS`, beside its
operators and the NumPy semantics; this module gathers them. Lowering emits calls by function name; the emitter
copies a call's sources from its row, the reference executor runs its row's reference, the planner reads its
capabilities. A new kernel is one row plus its C.

`reference(params, *inputs)` takes the call's input arguments (every argument but the last, the output; None for
an absent optional one) as arrays and returns the output; a `stateful` row's reference also takes the op's state
buffers (`states=`, updated in place), and a `partial` one writes part of the output array it is given (`out=`).
Rows without a reference run only inside a patch stage or the in-place technique, whose calls the reference
executor never sees (it runs the whole-tensor kernels of the lowering).
"""
from __future__ import annotations

from .. import ops
from ..params import KernelRow

KERNELS: dict[str, KernelRow] = ops.gather("KERNELS")
