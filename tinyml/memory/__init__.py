"""Memory planning: lifetimes, allocators and the overlap checker."""
from .planner import Buffer, Plan, arena_bytes, check_plan, lifetimes, max_layer_io, plan_memory, storage_roots

__all__ = ["Buffer", "Plan", "arena_bytes", "check_plan", "lifetimes", "max_layer_io", "plan_memory", "storage_roots"]
