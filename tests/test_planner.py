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


def test_local_search_refit_equals_a_whole_first_fit():
    """The local search re-places only what a move can change (planner._refit): on random buffer sets, overlap
    pairs and moves, its offsets are those of a first fit of the whole new order."""
    import random

    from tinyml.memory import planner
    rng = random.Random(1)
    for _ in range(150):
        n = rng.randint(2, 40)
        bufs = []
        for i in range(n):
            a = rng.randint(0, 20)
            bufs.append(Buffer(i, rng.randint(1, 64), a, a + rng.randint(0, 6), rng.choice([1, 2, 4]), (i,)))
        overlaps = {(a.id, b.id): rng.randint(0, 32) for a in bufs for b in bufs
                    if a.id != b.id and a.overlaps_in_time(b) and rng.random() < 0.1}
        conf = planner._conflicts(bufs, overlaps)
        order = list(bufs)
        rng.shuffle(order)
        offs = planner._first_fit(order, conf)
        for _ in range(30):
            i, j = rng.randrange(n), rng.randrange(n)
            if i == j:
                continue
            cand = list(order)
            cand.insert(j, cand.pop(i))
            got = planner._refit(cand, min(i, j), max(i, j), order[i].id, conf, offs)
            assert got == planner._first_fit(cand, conf)
            if rng.random() < 0.5:
                order, offs = cand, got
