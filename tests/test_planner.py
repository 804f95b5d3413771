"""Planner properties (hypothesis): every plan passes the overlap checker and is at least the live-bytes bound."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml.errors import TinymlError
from tinyml.memory import Buffer, Plan, check_plan, plan_memory


@st.composite
def buffer_sets(draw):
    n = draw(st.integers(1, 25))
    steps = draw(st.integers(1, 30))
    out = []
    for i in range(n):
        a = draw(st.integers(0, steps - 1))
        b = draw(st.integers(a, steps - 1))
        out.append(Buffer(i, draw(st.integers(1, 5000)), a, b, draw(st.sampled_from([1, 1, 4])), (i,)))
    return out


@settings(max_examples=300, deadline=None)
@given(buffer_sets())
def test_plans_are_valid_and_bounded(buffers):
    plan = plan_memory(buffers)
    check_plan(buffers, plan)
    steps = max(b.last for b in buffers) + 1
    live = max(sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(steps))
    assert plan.peak >= live
    assert plan.peak <= sum(b.size + b.align for b in buffers)


def test_checker_catches_overlap():
    a, b = Buffer(0, 10, 0, 2, 1, (0,)), Buffer(1, 10, 1, 3, 1, (1,))
    with pytest.raises(TinymlError):
        check_plan([a, b], Plan({0: 0, 1: 5}, 20))
    check_plan([a, b], Plan({0: 0, 1: 10}, 20))
    c = Buffer(2, 10, 3, 4, 1, (2,))
    check_plan([a, c], Plan({0: 0, 2: 0}, 10))  # disjoint lifetimes may share bytes
