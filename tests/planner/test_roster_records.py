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
from beat.pending import first_state_of, next_pending
from beat.roster import Roster
from beat.state_rows import EntryState, fields_of
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
    stored = [(name, None, T0, spec.content_hash(), None, None) for name in names]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        roster = Roster()
        rows = iter(stored if restart else ())
        roster.start({name: Entry.of(name, spec) for name in names}, rows, T0)
        del rows
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(roster.index) == n
    return held / n


def test_a_restart_holds_no_more_per_entry_than_a_first_start() -> None:
    """A restart finds every entry's stored state and reads each into its entry's record
    (before Roster.start, each waited as an orphan EntryState until its entry came, and the
    orphans' emptied table was kept: ~20 bytes per entry more, a million: 41 MB, issue 17)."""
    first, restart = _held_per_entry(False), _held_per_entry(True)
    assert restart < first + 4, (first, restart)


def roster_with_stored_states() -> tuple[Roster, dict[str, EntryState]]:
    stored = {
        "a": EntryState("a", T0, T0 - timedelta(days=1), entry("a").content_hash()),
        "gone": EntryState("gone", None, T0, "digest-of-a-removed-definition"),
    }
    roster = Roster()
    roster.start({"a": entry("a"), "b": entry("b", 30)}, fields_of(list(stored.values())), T0)
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
    assert states["gone"] == stored["gone"]
    assert states["b"] == EntryState("b", None, T0, entry("b", 30).content_hash())
    assert states.get("nobody") is None and "nobody" not in states
    roster.fired("a", T0 + timedelta(seconds=10), T0 + timedelta(seconds=11))
    assert states["a"] == replace(
        stored["a"],
        last_fire=T0 + timedelta(seconds=10),
        last_dispatched_at=T0 + timedelta(seconds=11),
    )


def test_a_state_stored_under_another_definition_is_an_edit_at_start_up() -> None:
    _, stored = roster_with_stored_states()
    other = replace(stored["a"], content_hash="written-by-another-version")
    roster = Roster()
    change = roster.start({"a": entry("a"), "b": entry("b", 30)}, fields_of([other]), T0)
    digest = entry("a").content_hash()
    assert roster.states["a"] == replace(other, content_hash=digest, edited_at=T0)
    assert sorted(s.name for s in change.persist) == ["a", "b"]
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


def test_start_reads_each_stored_state_into_its_record() -> None:
    fired = T0 + timedelta(hours=5, microseconds=7)
    stored = [
        EntryState("kept", fired, T0, entry("kept").content_hash(), fired),
        EntryState("edited", fired, T0, "digest-of-its-old-definition", None, T0),
        EntryState("off", None, T0, disabled("off").content_hash()),
        EntryState("gone", fired, T0, "digest-of-a-removed-definition"),
    ]
    loaded = {"kept": entry("kept"), "edited": entry("edited", 30), "off": disabled("off")}
    now = T0 + timedelta(days=1)
    roster = Roster()
    change = roster.start({**loaded, "new": entry("new")}, fields_of(stored), now)
    states = roster.states
    assert list(states) == ["kept", "edited", "off", "new", "gone"]
    assert states["kept"] == stored[0] and states["off"] == stored[2]
    assert states["gone"] == stored[3]  # no entry: kept aside as stored
    # An edited entry keeps its last fire and is new from now, as first_state_of says.
    assert states["edited"] == first_state_of("edited", entry("edited", 30).spec, now, stored[1])
    assert states["new"] == EntryState("new", None, now, entry("new").content_hash())
    assert sorted(s.name for s in change.persist) == ["edited", "new"]
    # The index: every enabled entry ("off" is not) at its next fire from its state.
    specs = {"kept": entry("kept").spec, "edited": entry("edited", 30).spec}
    specs["new"] = entry("new").spec
    expected = sorted((next_pending(spec, states[name]), name) for name, spec in specs.items())
    far = now + timedelta(days=1)
    assert sorted((at, name) for name, at in roster.index.pop_due(far)) == expected
    with pytest.raises(ValueError, match="loaded already"):
        roster.start({}, (), now)


def disabled(name: str) -> Entry:
    return Entry(name=name, task="noop", schedule=EVERY, enabled=False)
