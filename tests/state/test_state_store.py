"""The run-state store on real SQLite files and a real PostgreSQL schema: one contract suite,
run against both backends, plus SQLite-specific safety (file mode, corrupt or locked files)."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from beat.errors import StateError
from beat.state import EntryState, StateStore, from_epoch_us, normalize_url, to_epoch_us

T0 = datetime(2026, 3, 8, 6, 59, 59, 999_999, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "schedule.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore(store_url)
    yield s
    s.close()


def state(name: str, **kw: object) -> EntryState:
    values: dict[str, object] = {"last_fire": None, "first_seen": T0, "content_hash": "h1"}
    values.update(kw)
    return EntryState(name=name, **values)  # type: ignore[arg-type]


# --- the contract, on every backend ---------------------------------------------------------


def test_empty_store_loads_nothing(store: StateStore) -> None:
    assert store.load() == {}


def test_round_trip_is_exact_to_the_microsecond_and_utc(store_url: str) -> None:
    plus2 = timezone(timedelta(hours=2))
    rows = [
        state("new"),
        state(
            "full",
            last_fire=datetime(2026, 11, 1, 7, 30, 0, 1, tzinfo=plus2),
            content_hash="abc",
            last_dispatched_at=T0 + timedelta(microseconds=3),
            edited_at=datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        ),
        state("future", first_seen=datetime(2200, 1, 1, tzinfo=UTC)),
    ]
    store = StateStore(store_url)
    store.upsert_new(rows)
    store.close()
    # a fresh store on the same database: what was committed is what comes back
    reopened = StateStore(store_url)
    loaded = reopened.load()
    reopened.close()
    assert loaded == {s.name: s for s in rows}
    full = loaded["full"]
    assert full.last_fire == datetime(2026, 11, 1, 5, 30, 0, 1, tzinfo=UTC)
    for value in (full.last_fire, full.first_seen, full.last_dispatched_at, full.edited_at):
        assert value is not None and value.utcoffset() == timedelta(0)
    assert loaded["new"].last_fire is None and loaded["new"].edited_at is None


def test_upsert_updates_rows_but_never_resets_phase_or_last_fire(store: StateStore) -> None:
    store.upsert_new([state("a", last_fire=T0, last_dispatched_at=T0), state("b")])
    # edited: new hash and edit instant; a stale view (no last fire, later first seen) must not
    # reset what another beat recorded
    later = T0 + timedelta(minutes=5)
    store.upsert_new([state("a", content_hash="h2", first_seen=later, edited_at=later)])
    store.upsert_new([state("b", last_fire=T0 + timedelta(seconds=9), content_hash="h3")])
    loaded = store.load()
    assert loaded["a"] == state("a", last_fire=T0, content_hash="h2", edited_at=later)
    assert loaded["b"] == state("b", last_fire=T0 + timedelta(seconds=9), content_hash="h3")
    store.upsert_new([state("b", last_fire=T0, content_hash="h3")])  # older: kept at +9 s
    assert store.load()["b"].last_fire == T0 + timedelta(seconds=9)
    store.forget(["a"])
    store.upsert_new([state("a", first_seen=later)])  # forgotten, then new again: fresh row
    assert store.load()["a"] == state("a", first_seen=later)


def test_upsert_same_name_twice_in_one_call_keeps_the_last(store: StateStore) -> None:
    store.upsert_new([state("a", content_hash="x"), state("a", content_hash="y")])
    assert store.load()["a"].content_hash == "y"


def test_record_fires_keeps_the_maximum(store: StateStore) -> None:
    store.upsert_new([state("a"), state("b", last_fire=T0), state("c", last_fire=T0)])
    now = T0 + timedelta(seconds=5)
    store.record_fires(
        [
            ("a", T0 + timedelta(seconds=1)),  # None -> set
            ("b", T0 - timedelta(seconds=10)),  # older than stored: last_fire stays
            ("c", T0 + timedelta(seconds=2)),
            ("c", T0 + timedelta(seconds=3)),  # the same name twice: the later wins
            ("c", T0 + timedelta(seconds=1)),
        ],
        now,
    )
    loaded = store.load()
    assert loaded["a"].last_fire == T0 + timedelta(seconds=1)
    assert loaded["b"].last_fire == T0
    assert loaded["c"].last_fire == T0 + timedelta(seconds=3)
    assert {s.last_dispatched_at for s in loaded.values()} == {now}
    assert loaded["a"].first_seen == T0 and loaded["a"].content_hash == "h1"


def test_record_fires_for_an_unknown_name_changes_nothing(store: StateStore) -> None:
    store.upsert_new([state("a")])
    store.record_fires([("ghost", T0)], T0)
    assert set(store.load()) == {"a"}


def test_forget(store: StateStore) -> None:
    store.upsert_new([state(f"e{i}") for i in range(1_200)])  # more than one IN (...) chunk
    store.forget([f"e{i}" for i in range(1, 1_200)] + ["never-existed"])
    assert set(store.load()) == {"e0"}
    store.forget([])
    assert set(store.load()) == {"e0"}


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    store.upsert_new([state("a")])
    with pytest.raises(ValueError, match="naive"):
        store.record_fires([("a", datetime(2026, 1, 1))], T0)
    with pytest.raises(ValueError, match="naive"):
        store.upsert_new([state("b", first_seen=datetime(2026, 1, 1))])


def test_use_after_close_is_a_state_error(store_url: str) -> None:
    s = StateStore(store_url)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StateError, match="after close"):
        s.load()


# --- SQLite specifics -------------------------------------------------------------------------


def test_sqlite_file_and_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    old = os.umask(0o022)
    try:
        s = StateStore(str(path))
        s.upsert_new([state("a")])
        wal = Path(f"{path}-wal")
        assert wal.exists()  # WAL mode is on
        for p in (path, wal):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        s.close()
    finally:
        os.umask(old)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_url_and_plain_path_name_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    a = StateStore(str(path))
    a.upsert_new([state("a")])
    a.close()
    b = StateStore(f"sqlite:///{path}")
    assert set(b.load()) == {"a"}
    b.close()
    assert normalize_url("x.db") == f"sqlite:///{Path('x.db').resolve()}"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_corrupt_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    path.write_bytes(b"this is not sqlite\n" * 512)
    with pytest.raises(StateError) as info:
        StateStore(str(path))
    message = str(info.value)
    assert str(path) in message
    assert "file is not a database" in message
    assert "move it aside" in message and "next scheduled instant" in message


def test_locked_file_fails_after_the_busy_timeout_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    s = StateStore(str(path), busy_timeout_ms=200)
    s.upsert_new([state("a")])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        started = time.monotonic()
        with pytest.raises(StateError) as info:
            s.record_fires([("a", T0)], T0)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert 0.15 <= waited < 3
    message = str(info.value)
    assert "database is locked" in message and "another process" in message
    assert "recording 1 fire(s) failed" in message
    s.record_fires([("a", T0)], T0)  # usable again once the lock is gone
    assert s.load()["a"].last_fire == T0
    s.close()


def test_missing_directory_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="open failed"):
        StateStore(str(tmp_path / "no" / "such" / "dir" / "schedule.db"))


def test_committed_records_survive_a_killed_process(tmp_path: Path) -> None:
    """A record the store has returned from is on disk for the next process (no lazy write)."""
    import subprocess
    import sys

    path = tmp_path / "schedule.db"
    code = (
        "import os, sys\n"
        "from datetime import datetime, UTC\n"
        "from beat.state import StateStore, EntryState\n"
        "t = datetime(2026, 1, 1, tzinfo=UTC)\n"
        f"s = StateStore({str(path)!r})\n"
        "s.upsert_new([EntryState('a', None, t, 'h')])\n"
        "s.record_fires([('a', t)], t)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    s = StateStore(str(path))
    assert s.load()["a"].last_fire == datetime(2026, 1, 1, tzinfo=UTC)
    s.close()


# --- PostgreSQL specifics -----------------------------------------------------------------------


def test_unreachable_database_error_redacts_the_password() -> None:
    url = "postgresql+psycopg://beat:s3cret@127.0.0.1:1/state?connect_timeout=2"
    with pytest.raises(StateError) as info:
        StateStore(url)
    message = str(info.value)
    assert "s3cret" not in message
    assert "beat:***@127.0.0.1:1" in message
    assert "open failed" in message


# --- conversions and speed ---------------------------------------------------------------------


def test_epoch_microseconds_are_exact() -> None:
    for value in (
        T0,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ):
        assert from_epoch_us(to_epoch_us(value)) == value
    assert to_epoch_us(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1


@pytest.mark.slow
def test_record_100k_fires_timing(store_url: str) -> None:
    store = StateStore(store_url)
    n = 100_000
    store.upsert_new([state(f"e{i}") for i in range(n)])
    items = [(f"e{i}", T0 + timedelta(seconds=i % 60)) for i in range(n)]
    started = time.perf_counter()
    store.record_fires(items, T0)
    record_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = store.load()
    load_s = time.perf_counter() - started
    store.close()
    backend = "sqlite" if "://" not in store_url else store_url.split(":", 1)[0]
    print(f"\n{backend}: record_fires 100k in {record_s:.3f} s, load 100k in {load_s:.3f} s")
    assert len(loaded) == n
    assert loaded["e61"].last_fire == T0 + timedelta(seconds=1)


def test_many_stores_opening_one_new_database_at_once(store_url: str) -> None:
    """Several beats starting together on shared state all get a usable table."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_save(i: int) -> None:
        s = StateStore(store_url)
        s.upsert_new([state(f"e{i}")])
        s.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(open_and_save, range(4)))
    s = StateStore(store_url)
    assert set(s.load()) == {"e0", "e1", "e2", "e3"}
    s.close()
