"""tinyml: int8 neural networks compiled to plain C99 that computes exactly what TensorFlow Lite Micro computes."""
__version__ = "0.1.0"

from .api import compile, inspect, load, run  # noqa: E402

__all__ = ["__version__", "compile", "inspect", "load", "run"]
