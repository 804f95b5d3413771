"""TFLM (the `tflite-micro` Python interpreter) as the test oracle."""
from __future__ import annotations

import numpy as np

from tinyml.verify import random_inputs  # noqa: F401  (baseline.json's recipe, the one compile's self-check uses)


def tflm_available() -> bool:
    try:
        from tflite_micro import runtime  # noqa: F401
    except Exception:
        return False
    return True


def tflm_run(model: bytes, inputs: list[np.ndarray], n_outputs: int, arena_size: int = 4 << 20
             ) -> list[np.ndarray]:
    from tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    for k, x in enumerate(inputs):
        ip.set_input(x, k)
    ip.invoke()
    return [np.array(ip.get_output(k)) for k in range(n_outputs)]


def tflm_sequence(model: bytes, seq: list[list[np.ndarray]], reset_at: int | None = None,
                  arena_size: int = 1 << 20) -> list[np.ndarray]:
    """Output 0 of each invoke in order on one interpreter (its state carried from one invoke to the next), with
    a Reset() before invoke `reset_at`."""
    from tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    out = []
    for j, xs in enumerate(seq):
        if j == reset_at:
            ip.reset()
        for k, x in enumerate(xs):
            ip.set_input(x, k)
        ip.invoke()
        out.append(np.array(ip.get_output(0)))
    return out


def tflm_intermediates(model: bytes, inputs: list[np.ndarray], indices: list[int], arena_size: int = 4 << 20
                       ) -> dict[int, np.ndarray]:
    """Tensors `indices` (the file's numbering) after one invoke; the interpreter's GetTensor returns a dict
    holding the array in some versions, the array itself in others."""
    from tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(model, arena_size=arena_size,
                                        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    for k, x in enumerate(inputs):
        ip.set_input(x, k)
    ip.invoke()
    out = {}
    for i in indices:
        v = ip.GetTensor(i, 0)
        out[i] = np.asarray(v["tensor_data"] if isinstance(v, dict) else v)
    return out
