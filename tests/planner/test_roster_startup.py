"""Start-up indexing (issue 17): 100,000 entries first seen are indexed with no per-entry work
that a fresh roster cannot need, and index exactly as one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beat.config.model import UTC_ZONE
from beat.due_index import DueIndex
from beat.entries import Entry
from beat.roster import Roster
from beat.time.schedules import Interval

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class CountingIndex(DueIndex):
    __slots__ = ("removals",)

    def __init__(self) -> None:
        super().__init__()
        self.removals = 0

    def remove(self, name: str) -> None:
        self.removals += 1
        super().remove(name)


def entries(n: int) -> dict[str, Entry]:
    every = Interval(timedelta(seconds=10), None, UTC_ZONE)
    return {f"e{i}": Entry(name=f"e{i}", task="noop", schedule=every) for i in range(n)}


def test_a_fresh_roster_indexes_every_entry_without_removing_any() -> None:
    roster = Roster()
    roster.index = index = CountingIndex()
    change = roster.apply(entries(50), (), T0)
    assert index.removals == 0  # nothing was indexed before: nothing to take out
    assert len(index) == 50 and len(change.persist) == 50
    assert index.pop_due(T0 + timedelta(seconds=10)) == [
        (f"e{i}", T0 + timedelta(seconds=10)) for i in range(50)
    ]


def test_a_second_apply_still_moves_edited_entries() -> None:
    roster = Roster()
    roster.apply(entries(3), (), T0)
    every = Interval(timedelta(seconds=30), None, UTC_ZONE)
    edited = {"e1": Entry(name="e1", task="noop", schedule=every)}
    roster.apply(edited, (), T0 + timedelta(seconds=1))
    assert len(roster.index) == 3
    due = roster.index.pop_due(T0 + timedelta(seconds=10))
    assert [name for name, _ in due] == ["e0", "e2"]  # e1 moved to its new schedule
