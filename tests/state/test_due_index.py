"""The due index against a naive model (a dict of name -> instant), plus its edge cases."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from beat import due_index
from beat.due_index import DueIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_entry_moved_away_and_back_takes_its_last_place_among_ties() -> None:
    index = DueIndex()
    index.push("a", at(10))
    index.push("b", at(10))
    index.push("a", at(20))  # away...
    index.push("c", at(10))
    index.push("a", at(10))  # ...and back: after c, once
    index.push("b", at(10))  # again at the same instant: moves to the end
    assert len(index) == 3
    assert index.pop_due(at(30)) == [("c", at(10)), ("a", at(10)), ("b", at(10))]
    assert index.peek() is None and len(index) == 0


def test_pop_due_returns_due_entries_in_time_order_ties_in_push_order() -> None:
    index = DueIndex()
    index.push("late", at(30))
    index.push("b", at(10))
    index.push("a", at(10))
    index.push("first", at(5))
    index.push("future", at(31))
    assert index.peek() == at(5)
    assert index.pop_due(at(30)) == [
        ("first", at(5)),
        ("b", at(10)),
        ("a", at(10)),
        ("late", at(30)),
    ]
    assert len(index) == 1 and "future" in index
    assert index.pop_due(at(30)) == []
    assert index.peek() == at(31)


def test_push_replaces_the_previous_position() -> None:
    index = DueIndex()
    index.push("a", at(1))
    index.push("a", at(50))
    index.push("b", at(2))
    assert len(index) == 2
    assert index.peek() == at(2)
    assert index.pop_due(at(10)) == [("b", at(2))]
    index.push("a", at(3))  # moved earlier again
    assert index.pop_due(at(10)) == [("a", at(3))]
    assert index.peek() is None and len(index) == 0


def test_remove_and_empty_peek() -> None:
    index = DueIndex()
    assert index.peek() is None
    index.remove("nothing")  # no error
    index.push("a", at(1))
    index.push("b", at(1))
    index.remove("a")
    assert index.peek() == at(1)
    index.remove("b")
    assert index.peek() is None
    assert index.pop_due(at(100)) == []


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match=r"naive datetime .* 'x'"):
        DueIndex().push("x", datetime(2026, 1, 1))


def test_constant_rescheduling_keeps_memory_bounded() -> None:
    index = DueIndex()
    for i in range(10):
        index.push(f"e{i}", at(i))
    for round_ in range(5_000):
        index.push(f"e{round_ % 10}", at(100 + round_))
    assert index._items <= max(due_index._MIN_COMPACT, 2 * len(index)) + 1
    assert len(index) == 10
    assert index.pop_due(at(10**6)) == [(f"e{i}", at(100 + 4_990 + i)) for i in range(10)]


class DueIndexVersusModel(RuleBasedStateMachine):
    """Random pushes, removals, pops and peeks agree with a plain dict."""

    def __init__(self) -> None:
        super().__init__()
        self.index = DueIndex()
        self.model: dict[str, tuple[datetime, int]] = {}
        self.seq = 0

    names = st.sampled_from([f"e{i}" for i in range(8)])
    instants = st.integers(min_value=0, max_value=20).map(at)

    @rule(name=names, when=instants)
    def push(self, name: str, when: datetime) -> None:
        self.seq += 1
        self.index.push(name, when)
        self.model[name] = (when, self.seq)

    @rule(name=names)
    def remove(self, name: str) -> None:
        self.index.remove(name)
        self.model.pop(name, None)

    @rule(now=instants)
    def pop_due(self, now: datetime) -> None:
        due = sorted((v for v in self.model.items() if v[1][0] <= now), key=lambda kv: kv[1])
        expected = [(name, when) for name, (when, _seq) in due]
        for name, _ in expected:
            del self.model[name]
        assert self.index.pop_due(now) == expected

    @invariant()
    def peek_and_len_agree(self) -> None:
        assert len(self.index) == len(self.model)
        earliest = min((when for when, _ in self.model.values()), default=None)
        assert self.index.peek() == earliest


TestDueIndexVersusModel = DueIndexVersusModel.TestCase
TestDueIndexVersusModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 100)), max_size=200))
def test_pop_everything_is_sorted_and_has_each_name_once(pushes: list[tuple[int, int]]) -> None:
    index = DueIndex()
    last: dict[str, datetime] = {}
    for name_i, second in pushes:
        index.push(f"n{name_i}", at(second))
        last[f"n{name_i}"] = at(second)
    out = index.pop_due(at(100))
    assert dict(out) == last
    assert [w for _, w in out] == sorted(w for _, w in out)


@pytest.mark.slow
def test_million_pushes_timing() -> None:
    index = DueIndex()
    names = [f"e{i}" for i in range(1_000_000)]
    whens = [at(i % 3600) for i in range(1_000_000)]
    started = time.perf_counter()
    for name, when in zip(names, whens, strict=True):
        index.push(name, when)
    push_s = time.perf_counter() - started
    started = time.perf_counter()
    out = index.pop_due(at(3600))
    pop_s = time.perf_counter() - started
    print(f"\nDueIndex: 1,000,000 pushes in {push_s:.2f} s, pop_due of all in {pop_s:.2f} s")
    assert len(out) == 1_000_000 and len(index) == 0
