"""The roster's per-entry records (issue 17): what a held entry costs, and the entries and
states views that show the records as the mappings callers read."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from beat.config.model import UTC_ZONE
from beat.due_index import DueIndex
from beat.entries import Entry
from beat.roster import Roster
from beat.state_rows import EntryState
from beat.time.schedules import Interval

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVERY = Interval(timedelta(seconds=10), None, UTC_ZONE)


def entry(name: str, seconds: int = 10) -> Entry:
    return Entry(
        name=name, task="noop", schedule=Interval(timedelta(seconds=seconds), None, UTC_ZONE)
    )


def test_an_entry_held_by_the_roster_costs_under_140_bytes_beyond_its_name() -> None:
    # Before the records: an Entry (48 B), an EntryState (80 B) and three dict slots, ~230 B.
    # Now: one record (80 B), one dict slot and one due-index list slot.
    n = 20_000
    names = [f"entry-{i:06d}" for i in range(n)]  # the names are the caller's: not counted
    spec = entry("x").spec
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        roster = Roster()
        roster.apply({name: Entry.of(name, spec) for name in names}, (), T0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(roster.index) == n
    assert held / n < 140, f"{held / n:.0f} bytes per entry"


def _held_per_entry(restart: bool) -> float:
    """Bytes the roster holds per entry after a start-up (a restart: every state stored)."""
    n = 20_000
    names = [f"entry-{i:06d}" for i in range(n)]  # the names are the caller's: not counted
    spec = entry("x").spec
    stored = {name: EntryState(name, None, T0, spec.content_hash()) for name in names}
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        roster = Roster()
        if restart:
            roster.load_states(stored)
        stored.clear()  # the store's dict is the caller's, and let go
        roster.apply({name: Entry.of(name, spec) for name in names}, (), T0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(roster.index) == n
    return held / n


def test_a_restart_holds_no_more_per_entry_than_a_first_start() -> None:
    """A restart finds every entry's stored state: each waits as an orphan until its entry
    comes, then goes into its record. The orphans' emptied table is not kept (it was ~20
    bytes per entry more; a million: 41 MB at ready, issue 17)."""
    first, restart = _held_per_entry(False), _held_per_entry(True)
    assert restart < first + 4, (first, restart)


def roster_with_stored_states() -> tuple[Roster, dict[str, EntryState]]:
    stored = {
        "a": EntryState("a", T0, T0 - timedelta(days=1), entry("a").content_hash()),
        "gone": EntryState("gone", None, T0, "digest-of-a-removed-definition"),
    }
    roster = Roster()
    roster.load_states(stored)
    roster.apply({"a": entry("a"), "b": entry("b", 30)}, (), T0)
    return roster, stored


def test_the_entries_view_shows_each_record_as_an_entry_in_insertion_order() -> None:
    roster, _ = roster_with_stored_states()
    entries = roster.entries
    assert list(entries) == ["a", "b"] and len(entries) == 2
    assert entries["a"] == entry("a") and entries.get("b") == entry("b", 30)
    assert "gone" not in entries and entries.get("gone") is None
    with pytest.raises(KeyError):
        entries["gone"]
    assert dict(entries.items()) == {"a": entry("a"), "b": entry("b", 30)}
    assert list(entries.values()) == [entry("a"), entry("b", 30)]
    assert len(entries.values()) == 2 and ("a", entry("a")) in entries.items()


def test_the_states_view_shows_the_records_then_the_stored_states_of_no_entry() -> None:
    roster, stored = roster_with_stored_states()
    states = roster.states
    assert list(states) == ["a", "b", "gone"] and len(states) == 3
    assert states["a"] == stored["a"]  # unchanged definition: the stored state as it was
    assert states["gone"] is stored["gone"]
    assert states["b"] == EntryState("b", None, T0, entry("b", 30).content_hash())
    assert states.get("nobody") is None and "nobody" not in states
    roster.fired("a", T0 + timedelta(seconds=10), T0 + timedelta(seconds=11))
    assert states["a"] == replace(
        stored["a"],
        last_fire=T0 + timedelta(seconds=10),
        last_dispatched_at=T0 + timedelta(seconds=11),
    )


def test_a_state_stored_under_another_definition_keeps_its_own_hash() -> None:
    roster, stored = roster_with_stored_states()
    other = replace(stored["a"], content_hash="written-by-another-version")
    roster.load_states({"a": other})
    assert roster.states["a"] == other
    assert roster.states["b"].content_hash == entry("b", 30).content_hash()
    roster.apply({}, ["a"], T0)
    roster.apply({"a": entry("a")}, (), T0)  # back as new: the digest is its spec's again
    assert roster.states["a"].content_hash == entry("a").content_hash()


def test_removing_an_entry_drops_its_record_state_and_index_place() -> None:
    roster, _ = roster_with_stored_states()
    assert "a" in roster.index and "b" in roster.index and len(roster.index) == 2
    change = roster.apply({}, ["a", "gone"], T0)
    assert change.removed == ["a", "gone"]
    assert list(roster.entries) == ["b"] and list(roster.states) == ["b"]
    assert "a" not in roster.index and len(roster.index) == 1
    assert roster.index.pop_due(T0 + timedelta(minutes=1)) == [("b", T0 + timedelta(seconds=30))]


def test_a_rebuild_takes_the_other_leaders_states_and_reindexes() -> None:
    roster, stored = roster_with_stored_states()
    theirs = {"a": replace(stored["a"], last_fire=T0 + timedelta(seconds=20)), "x": stored["gone"]}
    persist = roster.rebuild(theirs, T0 + timedelta(seconds=21))
    assert [s.name for s in persist] == ["b"]  # the other leader never saw b
    assert list(roster.states) == ["a", "b", "x"]
    assert roster.states["a"].last_fire == T0 + timedelta(seconds=20)
    assert roster.index.pop_due(T0 + timedelta(seconds=30)) == [("a", T0 + timedelta(seconds=30))]


def test_an_index_over_records_refuses_a_name_with_no_record() -> None:
    roster, _ = roster_with_stored_states()
    with pytest.raises(KeyError):
        roster.index.push("gone", T0)
    roster.index.clear()
    assert len(roster.index) == 0 and "a" not in roster.index and roster.index.peek() is None


def test_an_index_without_records_keeps_its_own_slots() -> None:
    index = DueIndex()
    index.push("a", T0)
    index.remove("a")
    index.push("b", T0)
    assert index.pop_due(T0) == [("b", T0)] and len(index) == 0 and "b" not in index
