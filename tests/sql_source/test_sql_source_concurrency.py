"""Concurrent writers: every committed change is seen exactly once.

PostgreSQL hands out versions when a statement runs, not when its transaction commits, so a
write can become visible after a later-numbered one. A reader that remembered only "the
highest version seen" would skip it forever; these tests pin that it does not.
"""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from beat.entries_api import EntryStore
from beat.errors import SourceError
from beat.sources.sql.table import SqlSource
from tests.sql_source.raw import raw_sql

UTC = ZoneInfo("UTC")


def _loaded(pg_url: str, *names: str) -> tuple[EntryStore, SqlSource, int]:
    """A store with entries ``names`` and a source that has loaded them; the cursor after."""
    store = EntryStore(pg_url)
    for name in names:
        store.add(name, {"task": "t", "every": "5s"})
    source = SqlSource(pg_url, zone=UTC)
    return store, source, source.load_all().cursor


def _uncommitted(engine: sa.Engine, statement: str) -> sa.Connection:
    """A connection that ran ``statement`` in a transaction it has not committed yet."""
    conn = engine.connect()
    conn.begin()
    conn.execute(sa.text(statement))
    return conn


def test_out_of_order_commit_is_not_missed(pg_url: str) -> None:
    store, source, cursor = _loaded(pg_url, "slow", "fast")
    engine = sa.create_engine(pg_url)
    # Takes the lower version now, commits last.
    slow = _uncommitted(engine, "UPDATE beat_entries SET every = '7s' WHERE name = 'slow'")
    raw_sql(pg_url, "UPDATE beat_entries SET every = '9s' WHERE name = 'fast'")
    with engine.connect() as conn:
        versions = dict(conn.execute(sa.text("SELECT name, version FROM beat_entries")).all())
    first = source.changes_since(cursor)
    assert list(first.changed) == ["fast"]
    slow.commit()
    slow.close()
    with engine.connect() as conn:
        slow_version = conn.execute(
            sa.text("SELECT version FROM beat_entries WHERE name = 'slow'")
        ).scalar_one()
    # The precondition that makes this test meaningful: the late row has the lower version.
    assert slow_version < versions["fast"]
    # A reader without the snapshot details (a fresh process given the cursor) reads the
    # whole window from the cursor on and finds it too.
    fresh = SqlSource(pg_url, zone=UTC)
    assert "slow" in fresh.changes_since(first.cursor).changed
    fresh.close()
    second = source.changes_since(first.cursor)
    assert list(second.changed) == ["slow"]
    assert second.changed["slow"].schedule.describe() == "every 7s"
    # The re-read window does not report "fast" again.
    third = source.changes_since(second.cursor)
    assert third.changed == {} and third.removed == []
    engine.dispose()
    store.close()
    source.close()


def test_long_open_transaction_elsewhere_does_not_widen_reads(pg_url: str) -> None:
    store = EntryStore(pg_url)
    engine = sa.create_engine(pg_url)
    idle = engine.connect()
    idle.begin()
    idle.execute(sa.text("SELECT pg_current_xact_id()"))  # holds back the snapshot xmin
    for i in range(20):
        store.add(f"e{i}", {"task": "t", "every": "5s"})
    source = SqlSource(pg_url, zone=UTC)
    cursor = source.load_all().cursor
    store.update("e3", {"every": "6s"})
    changes = source.changes_since(cursor)
    assert list(changes.changed) == ["e3"]
    assert changes.rows_read == 1  # not the 20 rows written since the idle transaction began
    idle.rollback()
    idle.close()
    engine.dispose()
    store.close()
    source.close()


def test_out_of_order_delete_is_not_missed(pg_url: str) -> None:
    store, source, cursor = _loaded(pg_url, "a", "b")
    engine = sa.create_engine(pg_url)
    slow = _uncommitted(engine, "DELETE FROM beat_entries WHERE name = 'a'")
    raw_sql(pg_url, "UPDATE beat_entries SET every = '9s' WHERE name = 'b'")
    first = source.changes_since(cursor)
    assert list(first.changed) == ["b"] and first.removed == []
    slow.commit()
    slow.close()
    second = source.changes_since(first.cursor)
    assert second.removed == ["a"] and second.changed == {}
    engine.dispose()
    store.close()
    source.close()


def test_a_read_that_failed_does_not_hide_what_it_could_not_read(pg_url: str) -> None:
    """The snapshot of a read that failed half-way is not "what was seen": the next read's
    window must still cover what committed before it (here held back by an old xmin, the
    narrowed window of the failed snapshot would start past the update and miss it)."""
    store, _, _ = _loaded(pg_url, "a")
    engine = sa.create_engine(pg_url)
    idle = _uncommitted(engine, "SELECT pg_current_xact_id()")  # holds back the xmin
    # The url's options already set the schema: the reader also gives up on a lock quickly.
    source = SqlSource(f"{pg_url}%20-clock_timeout%3D300", zone=UTC)
    cursor = source.load_all().cursor
    store.update("a", {"every": "7s"})
    locker = _uncommitted(engine, "LOCK TABLE beat_entries IN ACCESS EXCLUSIVE MODE")
    with pytest.raises(SourceError, match="cannot read changes"):
        source.changes_since(cursor)
    locker.rollback()
    locker.close()
    changes = source.changes_since(cursor)
    assert list(changes.changed) == ["a"]
    assert changes.changed["a"].schedule.describe() == "every 7s"
    idle.rollback()
    idle.close()
    engine.dispose()
    store.close()
    source.close()


def _concurrent_writers_seen_once(url: str, writers: int, per_writer: int) -> None:
    source = SqlSource(url, zone=UTC)
    cursor = source.load_all().cursor
    seen: dict[str, int] = {}
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            with EntryStore(url) as store:
                for i in range(per_writer):
                    store.add(f"w{w}-{i}", {"task": "t", "every": "5s"})
                    if i % 3 == 0:
                        store.update(f"w{w}-{i}", {"every": "6s"})
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()

    def read_until_done() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            changes = source.changes_since(cursor)
            cursor = changes.cursor
            for name, entry in changes.changed.items():
                # Every change reported is the next state of the entry, never a repeat.
                state = 6 if entry.schedule.describe() == "every 6s" else 5
                assert seen.get(name) != state, f"{name} reported twice in state {state}"
                seen[name] = state
            if finished:
                return

    reader = threading.Thread(target=read_until_done)
    reader.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    expected = {
        f"w{w}-{i}": 6 if i % 3 == 0 else 5 for w in range(writers) for i in range(per_writer)
    }
    assert seen == expected
    source.close()


def test_concurrent_writers_every_change_seen_once_postgres(pg_url: str) -> None:
    _concurrent_writers_seen_once(pg_url, writers=4, per_writer=30)


def test_concurrent_writers_every_change_seen_once_sqlite(tmp_path: object) -> None:
    _concurrent_writers_seen_once(f"sqlite:///{tmp_path}/c.db", writers=3, per_writer=20)
