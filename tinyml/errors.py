"""User-facing errors.  Anything raised as `TinymlError` is printed by the CLI as one paragraph, without a
traceback, and the command exits non-zero.  Any other exception is a bug in tinyml."""


class TinymlError(Exception):
    """A problem with the user's input (file, model, option, budget, toolchain), explained in plain words."""

    exit_code = 2


class UnsupportedOpError(TinymlError):
    pass


class ToolchainError(TinymlError):
    exit_code = 3
