"""tinyml: int8 neural networks compiled to plain C99 that computes exactly what TensorFlow Lite Micro computes."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:  # for type checkers; at run time each name is imported on first use (below)
    from .api import compile, dequantize_output, inspect, load, quantize_input, run, run_sequence
    from .frontends.keras import from_keras
    from .frontends.torch import from_torch
    from .quant import evaluate, export_tflite, quantize

# public name -> the module that defines it, imported on first use (PEP 562): importing a submodule (the code
# generator, a harness, the IR) runs this file first and must not load the whole API, which imports them back
_API = {**dict.fromkeys(("compile", "inspect", "load", "run", "run_sequence", "quantize_input", "dequantize_output"),
                        "api"),
        "from_keras": "frontends.keras", "from_torch": "frontends.torch",
        **dict.fromkeys(("quantize", "export_tflite", "evaluate"), "quant")}

__all__ = ["__version__", "compile", "inspect", "load", "run", "run_sequence", "from_torch", "from_keras", "quantize",
           "export_tflite", "evaluate", "quantize_input", "dequantize_output"]


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'tinyml' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value
