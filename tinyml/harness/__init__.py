"""Harnesses that build and run generated C: on the host through cffi (and, later, on emulated boards)."""
