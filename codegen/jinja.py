"""The Jinja2 environment of the templates in `codegen/templates/`."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """One environment per process; compiled templates are also kept on disk across processes (the kernels
    template takes a noticeable part of a compile to parse)."""
    cache = None
    base = Path(os.environ.get("TINYML_CACHE_DIR") or Path.home() / ".cache" / "tinyml") / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(base))
    except OSError:
        pass
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False,
                              bytecode_cache=cache)
