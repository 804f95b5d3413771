"""tinyml: int8 neural networks compiled to plain C99 that computes exactly what TensorFlow Lite Micro computes."""
__version__ = "0.1.0"

from .api import compile, dequantize_output, inspect, load, quantize_input, run, run_sequence  # noqa: E402
from .frontends.keras import from_keras  # noqa: E402
from .frontends.torch import from_torch  # noqa: E402
from .quant import evaluate, export_tflite, quantize  # noqa: E402

__all__ = ["__version__", "compile", "inspect", "load", "run", "run_sequence", "from_torch", "from_keras", "quantize",
           "export_tflite", "evaluate", "quantize_input", "dequantize_output"]
