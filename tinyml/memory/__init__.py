"""Memory planning: lifetimes, allocators and the overlap checker."""
from .planner import Buffer, Plan, check_plan, lifetimes, max_layer_io, plan_memory, storage_roots

__all__ = ["Buffer", "Plan", "check_plan", "lifetimes", "max_layer_io", "plan_memory", "storage_roots"]
