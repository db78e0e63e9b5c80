"""A restart reads the stored run states back into the roster's records (issue 17: a million
at a restart): exactly as stored, a chunk of rows at a time, with no state kept per stored row
beyond the entry's record; a stored value that is no instant stops the start with an error
naming the store, the entry and the field."""

from __future__ import annotations

import gc
import sqlite3
import tracemalloc
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.config import load_config
from beat.errors import StateError
from beat.leader import LeaderElector
from beat.pending import next_pending
from beat.service import BeatService
from beat.state import StateStore
from beat.state_rows import EntryState
from taskqueue.redis import RedisBroker
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=3, microseconds=250_001)

CONFIG = """\
entries:
  tick: {task: noop, every: 10s}
  nightly: {task: report, cron: "30 2 * * *", timezone: Europe/Berlin}
  hourly: {task: sync, cron: "H * * * *", queue: reports, kwargs: {id: 7}}
  edited: {task: noop, every: 90s}
  changed: {task: noop, every: 45s}
  fresh: {task: noop, every: 1m}
"""


@contextmanager
def beat(tmp_path: Path, redis_url: str, clock: datetime) -> Iterator[BeatService]:
    """A beat on ``tmp_path``'s config and state, not started."""
    broker = RedisBroker(redis_url)
    elector = LeaderElector(
        lambda: broker, owner="a", ttl=timedelta(seconds=30), close_broker=False
    )
    service = BeatService(
        load_config(tmp_path / "schedules.yaml"),
        str(tmp_path / "schedule.db"),
        broker=broker,
        clock=FakeClock(clock),
        elector=elector,
        lookahead=timedelta(0),
    )
    try:
        yield service
    finally:
        service.close()
        broker.close()


def stored_states(tmp_path: Path) -> dict[str, EntryState]:
    """Every kind of stored state, at instants with microseconds: never fired, fired and
    dispatched, edited, stored under another definition, and one of no entry."""
    entries = load_config(tmp_path / "schedules.yaml").entries

    def state(name: str, **fields: object) -> EntryState:
        digest = entries[name].content_hash() if name in entries else "a-removed-definition"
        base = EntryState(name, None, T0 + timedelta(microseconds=17), digest)
        return replace(base, **fields)  # type: ignore[arg-type]

    fired = T0 + timedelta(days=2, hours=1, microseconds=999_999)
    return {
        "tick": state("tick"),
        "nightly": state(
            "nightly", last_fire=fired, last_dispatched_at=fired + timedelta(microseconds=3)
        ),
        "hourly": state("hourly", last_fire=fired, last_dispatched_at=fired),
        "edited": state("edited", last_fire=fired, edited_at=T0 + timedelta(days=1, seconds=1)),
        "changed": state("changed", last_fire=fired, content_hash="written-for-every-30s"),
        "gone": state("gone", last_fire=fired),
    }


def store_states(path: Path, states: list[EntryState]) -> None:
    store = StateStore(str(path))
    try:
        store.upsert_new(states)
    finally:
        store.close()


def test_a_restart_reads_back_every_stored_state_exactly(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "schedules.yaml").write_text(CONFIG)
    stored = stored_states(tmp_path)
    store_states(tmp_path / "schedule.db", list(stored.values()))
    with beat(tmp_path, redis_url, NOW) as service:
        service.start()
        service.save_held_states()  # as run() does once the beat is ready
        states = dict(service.states)
        specs = {name: entry.spec for name, entry in service.entries.items()}
        index = dict(service.index.pop_due(NOW + timedelta(days=2)))
    assert list(states) == [*specs, "gone"]
    for name in ("tick", "nightly", "hourly", "edited", "gone"):
        assert states[name] == stored[name], name  # unchanged: exactly as stored
    # Edited while the beat was down: its fires start after the restart (first_state_of).
    changed = replace(stored["changed"], content_hash=specs["changed"].content_hash())
    assert states["changed"] == replace(changed, edited_at=NOW)
    assert states["fresh"] == EntryState("fresh", None, NOW, specs["fresh"].content_hash())
    # Each indexed at the next fire of the state it was read back with, none lost.
    assert index == {name: next_pending(spec, states[name]) for name, spec in specs.items()}
    # What the restart wrote (the edited and the new entry) is what it holds.
    store = StateStore(str(tmp_path / "schedule.db"))
    try:
        assert store.load() == states
    finally:
        store.close()


def set_column(path: Path, name: str, column: str, value: object) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"UPDATE beat_entry_state SET {column} = ? WHERE name = ?", (value, name))
        db.commit()


@pytest.mark.parametrize(
    ("column", "value"),
    [("last_fire_us", "yesterday"), ("first_seen_us", b"\x00\x01"), ("edited_at_us", 1 << 62)],
)
def test_a_stored_instant_that_is_no_instant_stops_the_start_naming_entry_and_field(
    tmp_path: Path, redis_url: str, column: str, value: object
) -> None:
    (tmp_path / "schedules.yaml").write_text(CONFIG)
    store_states(tmp_path / "schedule.db", list(stored_states(tmp_path).values()))
    set_column(tmp_path / "schedule.db", "nightly", column, value)
    with beat(tmp_path, redis_url, NOW) as service, pytest.raises(StateError) as raised:
        service.start()
    message = str(raised.value)
    assert "schedule.db" in message and "entry 'nightly'" in message, message
    assert f"{column} is not an instant in microseconds since the epoch" in message, message


def test_a_stored_content_hash_that_is_garbage_is_an_edit(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "schedules.yaml").write_text(CONFIG)
    stored = stored_states(tmp_path)
    store_states(tmp_path / "schedule.db", list(stored.values()))
    set_column(tmp_path / "schedule.db", "nightly", "content_hash", 42)
    with beat(tmp_path, redis_url, NOW) as service:
        service.start()
        nightly = service.states["nightly"]
        digest = service.entries["nightly"].content_hash()
    # The documented rule for a content hash that is not the entry's: an edit at the restart.
    assert nightly == replace(stored["nightly"], content_hash=digest, edited_at=NOW)


def test_a_restart_holds_no_state_per_stored_row_beyond_its_record(
    tmp_path: Path, redis_url: str
) -> None:
    # Before: every row (a tuple, its name, digest and instants: ~300 B) and an EntryState
    # per row (80 B) in a dict, all at once, then the records made from them. Now: the rows
    # a chunk at a time, each read into its entry's record (made first, from the config).
    n = 20_000
    lines = [f"  e{i}: {{task: noop, every: {10 + i % 7}s}}" for i in range(n)]
    (tmp_path / "schedules.yaml").write_text("entries:\n" + "\n".join(lines) + "\n")
    with beat(tmp_path, redis_url, T0) as first:
        first.start()
        first.save_held_states()  # the new entries' rows: as run() writes them once ready
    with beat(tmp_path, redis_url, NOW) as service:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            service.start()
            held, peak = (size - before for size in tracemalloc.get_traced_memory())
        finally:
            tracemalloc.stop()
        assert len(service.states) == n and len(service.index) == n
        assert service.states["e5"].first_seen == T0  # read back, not first seen now
    assert (peak - max(held, 0)) / n < 150, f"{(peak - held) / n:.0f} bytes per entry over held"
