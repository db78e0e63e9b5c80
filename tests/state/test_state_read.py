"""The read-only fast path for the run state (beat.state_read) reads what the SQLAlchemy store
loads, on the same real files: written by the store and by a real beat that ran; it never
creates or writes the file (issue 12 item 6: ``beat list``/``beat next`` without SQLAlchemy).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.errors import StateError
from beat.state import EntryState, StateStore
from beat.state_read import read_state_file, sqlite_state_file
from taskqueue.sqlite_file import create_database_file
from tests.daemon.conftest import beat_starter, load_states

T0 = datetime(2026, 3, 8, 6, 59, 59, 999_999, tzinfo=UTC)


def test_same_states_as_the_store_after_its_operations(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    store = StateStore(str(path))
    try:
        store.upsert_new(
            [
                EntryState("new", None, T0, "h1"),
                EntryState("fired", None, T0, "h2"),
                EntryState("edited", None, T0, "h3"),
                EntryState("old-timer", None, datetime(1970, 1, 1, tzinfo=UTC), "h4"),
                EntryState("far", None, datetime(9999, 12, 31, 23, 59, 59, 999_999, UTC), "h5"),
                EntryState("doomed", None, T0, "h6"),
                EntryState("名前 with spaces", None, T0, "h7"),
            ]
        )
        store.record_fires(
            [("fired", T0 + timedelta(minutes=1)), ("edited", T0 + timedelta(seconds=1))],
            T0 + timedelta(minutes=1, microseconds=7),
        )
        store.upsert_new([EntryState("edited", None, T0, "h3b", edited_at=T0 + timedelta(hours=1))])
        store.forget(["doomed"])
        expected = store.load()
    finally:
        store.close()
    assert read_state_file(path) == expected
    assert "doomed" not in expected and expected["fired"].last_fire is not None
    assert expected["edited"].edited_at is not None


def test_same_states_as_the_store_after_a_beat_ran(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n"
        "  often: {task: log, every: 1s}\n"
        "  nightly: {task: log, cron: '30 2 * * *'}\n"
        "  paused: {task: log, every: 1m, enabled: false}\n"
    )
    state = tmp_path / "schedule.db"
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    with beat_starter(tmp_path) as start:
        beat = start(config, state, url)
        beat.wait_for_log("beat started")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            often = load_states(state).get("often") if state.exists() else None
            if often is not None and often.last_fire is not None:
                break
            time.sleep(0.1)
        assert beat.stop() == 0
    expected = load_states(state)
    assert expected["often"].last_fire is not None, expected
    assert read_state_file(state) == expected
    assert set(expected) == {"often", "nightly", "paused"}


def test_a_missing_file_is_empty_and_not_created(tmp_path: Path) -> None:
    assert read_state_file(tmp_path / "schedule.db") == {}
    assert list(tmp_path.iterdir()) == []


def test_a_file_without_the_table_is_empty_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    create_database_file(path)
    before = path.read_bytes()
    assert read_state_file(path) == {}
    assert path.read_bytes() == before


def test_reading_never_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    store = StateStore(str(path))
    store.upsert_new([EntryState("a", T0, T0, "h")])
    store.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_state_file(path)["a"].last_fire == T0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_corrupt_file_gives_the_stores_error(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    path.write_bytes(b"not a database at all " * 400)
    with pytest.raises(StateError) as info:
        read_state_file(path)
    assert str(path) in str(info.value) and "move it aside" in str(info.value)


def test_garbage_instants_read_as_the_store_reads_them_or_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    store = StateStore(str(path))
    store.upsert_new([EntryState("float", None, T0, "h"), EntryState("text", None, T0, "h")])
    store.close()
    with sqlite3.connect(path) as conn:
        # SQLite keeps a REAL in a BIGINT column: the store reads it (rounded); so do we.
        conn.execute("UPDATE beat_entry_state SET last_fire_us = 1.5 WHERE name = 'float'")
    assert read_state_file(path) == load_states(path)
    with sqlite3.connect(path) as conn:  # text where an instant belongs: the store crashes
        conn.execute("UPDATE beat_entry_state SET first_seen_us = 'soon' WHERE name = 'text'")
    with pytest.raises(StateError) as info:
        read_state_file(path)
    message = str(info.value)
    assert "schedule.db" in message and "'text'" in message and "first_seen_us" in message
    with sqlite3.connect(path) as conn:  # an instant past year 9999
        conn.execute("UPDATE beat_entry_state SET first_seen_us = 9e18 WHERE name = 'text'")
    with pytest.raises(StateError, match="first_seen_us"):
        read_state_file(path)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("schedule.db", Path("schedule.db").resolve()),
        ("sqlite:///rel/s.db", Path("rel/s.db")),
        ("sqlite:////abs/s.db", Path("/abs/s.db")),
        ("sqlite:///s.db?timeout=3", None),  # query parameters: the store's URL handling
        ("sqlite:///a%20b.db", None),  # %-escapes: SQLAlchemy decodes them
        ("sqlite:///:memory:", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_which_state_locations_take_the_fast_path(state: str, expected: Path | None) -> None:
    assert sqlite_state_file(state) == expected
