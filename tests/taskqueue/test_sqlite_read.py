"""The read-only fast path (taskqueue.sqlite_read) answers what the SQLAlchemy broker answers,
on the same real files after real operations, and never creates or writes the file.

Issue 12 item 6: ``beat queues``/``beat status`` read the queue file with sqlite3 so they do not
pay for importing SQLAlchemy; these tests pin that the two readings are one answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue import sqlite_read
from taskqueue.broker import ACK, DeadLetterAction, RetryAction, Settlement, TaskState, TaskStatus
from taskqueue.errors import BrokerError, BrokerUnavailable, TaskqueueError
from taskqueue.message import Message
from taskqueue.sqlite import SQLiteBroker
from taskqueue.sqlite_file import create_database_file
from tests.taskqueue import single
from tests.taskqueue.sqlite_file import raw_sql, sqlite_url

LEASE = timedelta(seconds=30)
NOW = timedelta(0)


@pytest.fixture
def broker(sqlite_broker: SQLiteBroker) -> SQLiteBroker:
    """This module is about SQLite: its broker is the SQLite one."""
    return sqlite_broker


def _same_answers(broker: SQLiteBroker, ids: list[str], leases: list[str]) -> None:
    url = broker.url
    assert sqlite_read.queue_stats(url) == broker.queue_stats()
    for task_id in [*ids, "never-seen"]:
        assert sqlite_read.task_status(url, task_id) == broker.get_status(task_id), task_id
    for name in [*leases, "no-such-lease"]:
        assert sqlite_read.lease_holder(url, name) == broker.lease_holder(name), name


def test_same_answers_as_the_broker_after_real_operations(tmp_path: Path) -> None:
    broker = SQLiteBroker(sqlite_url(tmp_path))
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        messages = [
            Message(id="a1", task="t.a", queue="alpha", priority=5),
            Message(id="a2", task="t.a", queue="alpha"),
            Message(id="a3", task="t.a", queue="alpha"),
            Message(id="b1", task="t.b", queue="beta", eta=later),
            Message(id="g1", task="t.g", queue="gamma"),
            Message(id="g2", task="t.g", queue="gamma"),
            Message(id="g3", task="t.g", queue="gamma"),
            Message(id="e1", task="t.e", queue="expiring"),
        ]
        assert all(broker.enqueue_many(messages))
        assert broker.enqueue_many(messages[:1]) == [False]  # duplicate refused
        _same_answers(broker, [m.id for m in messages], [])

        ack_me, dead_me, retry_me = broker.claim_many(["gamma"], "w1", LEASE, NOW, 3)
        held = single.claim(broker, ["alpha"], "w1", LEASE, NOW)  # stays in flight
        assert held is not None
        expired = single.claim(broker, ["expiring"], "w2", timedelta(milliseconds=50), NOW)
        assert expired is not None
        broker.heartbeat("w1", ["alpha", "gamma", "listened-only"], timedelta(minutes=1))
        broker.heartbeat("gone", ["alpha"], timedelta(milliseconds=1))
        status = TaskStatus(
            ack_me.message_id, "t.g", TaskState.SUCCESS, 1, {"rows": [1, 2.5, None]}, None,
            datetime.now(UTC), datetime.now(UTC), 1,
        )  # fmt: skip
        retry = Message(id=retry_me.message_id, task="t.g", queue="gamma", attempt=1)
        assert broker.settle_many(
            [
                Settlement(ack_me, ACK, status),
                Settlement(dead_me, DeadLetterAction("unknown task"), None),
                Settlement(retry_me, RetryAction(retry, later), None),
            ]
        ) == [True, True, True]
        broker.set_status(
            TaskStatus("failed", "t.f", TaskState.FAILURE, 3, None, "ValueError: boom")
        )
        broker.set_status(
            TaskStatus("gone-already", "t.f", TaskState.SUCCESS, 1, 1), ttl=timedelta(0)
        )
        assert broker.acquire_lease("beat-leader", "host-a:1", LEASE) == 1
        assert broker.acquire_lease("released", "host-b:2", LEASE) == 1
        broker.release_lease("released", "host-b:2", 1)
        time.sleep(0.1)  # the 50 ms lease and the 1 ms heartbeat have run out

        ids = [m.id for m in messages] + ["failed", "gone-already"]
        _same_answers(broker, ids, ["beat-leader", "released"])
        stats = {s.name: s for s in sqlite_read.queue_stats(broker.url)}
        # What the comparison covered (not all zeros on both sides):
        assert stats["gamma"].dead == 1 and stats["gamma"].delayed == 1
        assert stats["alpha"].in_flight == 1 and stats["alpha"].consumers == 1
        assert stats["expiring"].expired_lease == 1 and stats["listened-only"].consumers == 1
        assert stats["beta"].delayed == 1
        assert sqlite_read.task_status(broker.url, "a1") is not None
        assert sqlite_read.lease_holder(broker.url, "beat-leader") is not None
        assert sqlite_read.task_status(broker.url, "gone-already") is None
    finally:
        broker.close()


def test_a_missing_file_is_empty_and_not_created(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert sqlite_read.queue_stats(url) == []
    assert sqlite_read.task_status(url, "x") is None
    assert sqlite_read.lease_holder(url, "beat-leader") is None
    assert list(tmp_path.iterdir()) == []


def test_a_file_without_tables_is_empty_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    create_database_file(path)
    before = path.read_bytes()
    url = sqlite_url(tmp_path)
    assert sqlite_read.queue_stats(url) == []
    assert sqlite_read.task_status(url, "x") is None
    assert sqlite_read.lease_holder(url, "beat-leader") is None
    assert path.read_bytes() == before
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_reading_never_writes_the_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    broker = SQLiteBroker(url)
    assert broker.enqueue_once(Message(id="m", task="t"))
    broker.close()  # the last connection checkpoints the WAL into the file
    path = tmp_path / "queue.db"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sqlite_read.queue_stats(url)[0].ready == 1
    assert sqlite_read.lease_holder(url, "beat-leader") is None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    wal = tmp_path / "queue.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(path) as raw:  # the broker makes the leases table on first use; not us
        tables = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "leases" not in tables


def test_an_older_file_without_the_deliveries_column(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    broker = SQLiteBroker(url)
    assert broker.enqueue_once(Message(id="old", task="t"))
    broker.close()
    # The table as older versions made it.
    raw_sql(tmp_path, "ALTER TABLE statuses DROP COLUMN deliveries")
    fast = sqlite_read.task_status(url, "old")  # before the broker adds the column back
    broker = SQLiteBroker(url)
    try:
        assert fast == broker.get_status("old")
        assert fast is not None and fast.deliveries == 0
    finally:
        broker.close()


def test_a_newer_schema_is_refused_as_the_broker_refuses_it(tmp_path: Path) -> None:
    SQLiteBroker(sqlite_url(tmp_path)).close()
    raw_sql(tmp_path, "PRAGMA user_version = 99")
    with pytest.raises(BrokerError, match="schema version 99 is newer"):
        sqlite_read.queue_stats(sqlite_url(tmp_path))


def test_a_corrupt_file_gives_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    path.write_bytes(b"this is not an SQLite database, just some text" * 100)
    with pytest.raises(BrokerError) as info:
        sqlite_read.queue_stats(sqlite_url(tmp_path))
    assert str(path) in str(info.value) and "not a valid queue database" in str(info.value)
    with pytest.raises(BrokerError):
        sqlite_read.task_status(sqlite_url(tmp_path), "x")


def test_garbage_message_rows_read_as_the_broker_reads_them(
    tmp_path: Path, broker: SQLiteBroker
) -> None:
    """The rows the malformed-queue tests plant: counted alike, no crash."""
    url = sqlite_url(tmp_path)
    broker.heartbeat("setup", ["default"], timedelta(minutes=1))
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        for message_id, priority, payload in [
            ("text-payload", "0", "'notvalidformat'"),
            ("blob-payload", "0", "x'fffe'"),
            ("bad-utf8-text", "0", "CAST(x'fffe' AS TEXT)"),
            ("bad-priority", "'abc'", "x'7b7d'"),
        ]:
            conn.execute(
                "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, "
                f"payload) VALUES (?, 'default', {priority}, 'ready', 0, {payload})",
                (message_id,),
            )
        conn.execute(
            "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, payload) "
            "VALUES (CAST(x'fffe' AS TEXT), 'default', 0, 'ready', 0, x'7b7d')"
        )
        conn.execute(  # a state the broker never writes, and a due_s that is text
            "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, due_s, "
            "payload) VALUES ('odd', 'odd-queue', 0, 'weird', 0, 'soon', x'00')"
        )
    assert sqlite_read.queue_stats(url) == broker.queue_stats()
    assert [s.ready for s in sqlite_read.queue_stats(url) if s.name == "default"] == [5]


def test_a_queue_name_that_is_not_utf8_fails_alike(tmp_path: Path, broker: SQLiteBroker) -> None:
    url = sqlite_url(tmp_path)
    raw_sql(
        tmp_path,
        "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, payload) "
        "VALUES ('m', CAST(x'fffe' AS TEXT), 0, 'ready', 0, x'00')",
    )
    with pytest.raises(TaskqueueError):
        broker.queue_stats()
    with pytest.raises(BrokerUnavailable, match=r"queue\.db"):
        sqlite_read.queue_stats(url)


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("state", "'BOGUS'", "state"),
        ("result", "'{not json'", "result"),
        ("started_at_s", "'yesterday'", "started_at_s"),
    ],
)
def test_a_garbage_status_row_gives_an_error_naming_the_field(
    tmp_path: Path, broker: SQLiteBroker, column: str, value: str, named: str
) -> None:
    """Where the broker itself crashes on the row (ValueError, TypeError), the fast path says
    which file, row and field hold what the broker never writes."""
    url = sqlite_url(tmp_path)
    broker.set_status(TaskStatus("bad", "t", TaskState.STARTED, 1))
    broker.set_status(TaskStatus("good", "t", TaskState.STARTED, 1))
    raw_sql(tmp_path, f"UPDATE statuses SET {column} = {value} WHERE task_id = 'bad'")
    with pytest.raises(BrokerError) as info:
        sqlite_read.task_status(url, "bad")
    message = str(info.value)
    assert "queue.db" in message and "'bad'" in message and named in message
    assert sqlite_read.task_status(url, "good") == broker.get_status("good")


def test_a_garbage_consumer_row_gives_an_error_naming_it(
    tmp_path: Path, broker: SQLiteBroker
) -> None:
    url = sqlite_url(tmp_path)
    broker.heartbeat("w", ["default"], timedelta(minutes=1))
    raw_sql(tmp_path, "UPDATE consumers SET queues = '[not json' WHERE name = 'w'")
    with pytest.raises(BrokerError, match=r"consumers row 'w': queues"):
        sqlite_read.queue_stats(url)
    with sqlite3.connect(tmp_path / "queue.db") as conn:  # JSON, but not a list: as broker
        conn.execute("UPDATE consumers SET queues = ? WHERE name = 'w'", (json.dumps("ab"),))
    assert sqlite_read.queue_stats(url) == broker.queue_stats()
