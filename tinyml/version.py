"""tinyml's version (a module of its own: the code generator and the harness read it without importing the API)."""
__version__ = "0.1.0"
