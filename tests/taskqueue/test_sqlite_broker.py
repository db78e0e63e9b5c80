"""SQLite-specific behaviour of the embedded broker; the shared contract is in
test_broker_contract.py. Real files in tmp_path, real processes for concurrency."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.errors import BrokerError, BrokerUnavailable, UnknownBrokerURL
from taskqueue.message import Message
from taskqueue.records import Delivery
from taskqueue.sqlite import SQLiteBroker, sqlite_path
from taskqueue.urls import open_broker
from tests.taskqueue import single
from tests.taskqueue.sqlite_file import raw_sql, sqlite_url

LEASE = timedelta(seconds=30)
NO_WAIT = timedelta(0)


@pytest.fixture
def broker(sqlite_broker: SQLiteBroker) -> SQLiteBroker:
    """This module is about SQLite: its broker is the SQLite one."""
    return sqlite_broker


def test_url_paths_follow_sqlalchemy() -> None:
    assert sqlite_path("sqlite:///queue.db") == Path("queue.db")
    assert sqlite_path("sqlite:////var/lib/beat/queue.db") == Path("/var/lib/beat/queue.db")
    for bad in ("sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://host/q.db"):
        with pytest.raises(UnknownBrokerURL):
            sqlite_path(bad)


def test_open_broker_picks_sqlite(tmp_path: Path) -> None:
    b = open_broker(sqlite_url(tmp_path))
    assert isinstance(b, SQLiteBroker) and b.url == sqlite_url(tmp_path)
    b.ping()
    b.close()


def test_file_is_owner_only_and_in_wal_mode(broker: SQLiteBroker, tmp_path: Path) -> None:
    assert broker.enqueue_once(Message(id="a", task="t"))
    path = tmp_path / "queue.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sidecar in (path.with_name("queue.db-wal"), path.with_name("queue.db-shm")):
        if sidecar.exists():
            assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_corrupt_file_gives_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    path.write_bytes(b"this is not an SQLite database, just some text" * 100)
    with pytest.raises(BrokerError) as info:
        SQLiteBroker(sqlite_url(tmp_path))
    assert str(path) in str(info.value) and "not a valid queue database" in str(info.value)
    assert not isinstance(info.value, BrokerUnavailable)


def test_missing_directory_is_unavailable_naming_the_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/queue.db"
    with pytest.raises(BrokerUnavailable) as info:
        SQLiteBroker(url)
    assert f"{tmp_path}/no/such/dir/queue.db" in str(info.value)


def test_writers_wait_for_another_writer_then_give_up_naming_the_file(tmp_path: Path) -> None:
    b = SQLiteBroker(sqlite_url(tmp_path), busy_timeout=timedelta(milliseconds=200))
    other = sqlite3.connect(tmp_path / "queue.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    releaser = threading.Timer(0.1, other.execute, ["COMMIT"])
    start = time.monotonic()
    releaser.start()
    assert b.enqueue_once(Message(id="waited", task="t"))  # waited, did not fail
    assert time.monotonic() - start >= 0.09
    releaser.join()
    assert single.claim(b, ["default"], "c", LEASE, NO_WAIT) is not None  # reads never waited
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(BrokerUnavailable, match=str(tmp_path / "queue.db")):
        b.enqueue_once(Message(id="refused", task="t"))
    assert b.queue_stats()[0].in_flight == 1  # a read goes on under a held write lock (WAL)
    other.execute("ROLLBACK")
    other.close()
    b.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SQLiteBroker(sqlite_url(tmp_path)).close()
    raw_sql(tmp_path, "PRAGMA user_version = 99")
    with pytest.raises(BrokerError, match="schema version 99 is newer"):
        SQLiteBroker(sqlite_url(tmp_path))


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = SQLiteBroker(sqlite_url(tmp_path))
    assert first.enqueue_once(Message(id="keep", task="t", priority=3))
    first.close()
    second = SQLiteBroker(sqlite_url(tmp_path))
    assert not second.enqueue_once(Message(id="keep", task="t"))
    delivery = single.claim(second, ["default"], "c", LEASE, NO_WAIT)
    assert delivery is not None and delivery.message_id == "keep"
    second.close()


def test_delayed_message_queues_behind_what_was_ready_before_it_was_due(
    broker: SQLiteBroker,
) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=150)
    assert broker.enqueue_once(Message(id="delayed", task="t", eta=soon))
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None
    assert broker.queue_stats()[0].delayed == 1
    time.sleep(0.2)
    assert broker.enqueue_once(Message(id="after-due", task="t"))
    order = []
    for _ in range(2):
        d = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
        assert d is not None
        order.append(d.message_id)
    assert order == ["delayed", "after-due"]


def test_claim_waits_for_a_message_enqueued_meanwhile(tmp_path: Path) -> None:
    consumer = SQLiteBroker(sqlite_url(tmp_path))
    producer = SQLiteBroker(sqlite_url(tmp_path))
    start = time.monotonic()
    eta = datetime.now(UTC) + timedelta(milliseconds=100)
    assert producer.enqueue_once(Message(id="late", task="t", eta=eta))
    delivery = single.claim(consumer, ["default"], "c", LEASE, timedelta(seconds=2))
    waited = time.monotonic() - start
    assert delivery is not None and delivery.message_id == "late"
    assert 0.09 <= waited < 0.5
    assert single.claim(consumer, ["default"], "c", LEASE, timedelta(milliseconds=60)) is None
    consumer.close()
    producer.close()


def test_claim_recovers_expired_leases_itself(broker: SQLiteBroker) -> None:
    assert broker.enqueue_once(Message(id="x", task="t"))
    first = single.claim(broker, ["default"], "dies", timedelta(milliseconds=50), NO_WAIT)
    assert first is not None
    time.sleep(0.1)
    second = single.claim(broker, ["default"], "lives", LEASE, NO_WAIT)
    assert second is not None and second.message_id == "x" and second.token != first.token
    assert not single.ack(broker, first) and single.ack(broker, second)


def test_dedupe_expires_and_the_id_can_be_sent_again(broker: SQLiteBroker) -> None:
    short = timedelta(milliseconds=50)
    assert broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=short)
    assert not broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=short)
    time.sleep(0.1)
    assert broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=short)
    assert broker.queue_stats()[0].ready == 2


def test_duplicates_inside_one_batch_are_refused(broker: SQLiteBroker) -> None:
    batch = [Message(id=i, task="t") for i in ("a", "b", "a", "c", "b")]
    assert broker.enqueue_many(batch) == [True, True, False, True, False]
    assert broker.queue_stats()[0].ready == 3


def test_a_forked_child_gets_its_own_connections(broker: SQLiteBroker) -> None:
    assert broker.enqueue_once(Message(id="parent", task="t"))
    pid = os.fork()
    if pid == 0:  # child: use the inherited broker object, then leave without cleanup
        ok = broker.enqueue_once(Message(id="child", task="t"))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert broker.queue_stats()[0].ready == 2


def test_in_flight_operations_check_the_owner_token(broker: SQLiteBroker) -> None:
    assert broker.enqueue_many([Message(id=i, task="t") for i in "abc"]) == [True] * 3
    a, b, c = (single.claim(broker, ["default"], "c", LEASE, NO_WAIT) for _ in range(3))
    assert a is not None and b is not None and c is not None
    forged = Delivery(a.message_id, a.queue, a.payload, "not-the-token", a.lease_until)
    assert not single.ack(broker, forged) and broker.extend(forged, LEASE) is None
    assert not broker.release(forged) and not single.dead_letter(broker, forged, "x")
    longer = broker.extend(a, timedelta(hours=1))
    assert longer is not None and longer.lease_until > a.lease_until
    retried = Message(id="b", task="t", attempt=1)
    assert single.retry(broker, b, retried, datetime.now(UTC) + timedelta(hours=1))
    assert single.dead_letter(broker, c, "unknown task 't'")
    assert broker.release(a) and not single.ack(broker, a)
    stats = broker.queue_stats()[0]
    assert (stats.ready, stats.delayed, stats.in_flight, stats.dead) == (1, 1, 0, 1)
    [dead] = broker.dead_letters("default")
    assert (dead.message_id, dead.reason, dead.payload) == ("c", "unknown task 't'", c.payload)
    assert broker.recover_expired(datetime.now(UTC) + timedelta(hours=2)) == 0
    again = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert again is not None and again.message_id == "a" and again.payload == a.payload


def test_retry_due_at_once_is_ready_again(broker: SQLiteBroker) -> None:
    assert broker.enqueue_once(Message(id="r", task="t"))
    first = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert first is not None
    assert single.retry(broker, first, Message(id="r", task="t", attempt=1), datetime.now(UTC))
    assert broker.queue_stats()[0].ready == 1
    again = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert again is not None and Message.decode(again.payload).attempt == 1
    assert not single.retry(broker, first, Message(id="r", task="t", attempt=2), datetime.now(UTC))


def test_heartbeats_count_live_consumers_and_create_queues(broker: SQLiteBroker) -> None:
    broker.heartbeat("w1", ["default", "mail"], timedelta(seconds=30))
    broker.heartbeat("w2", ["mail"], timedelta(milliseconds=50))
    stats = {q.name: q.consumers for q in broker.queue_stats()}
    assert stats == {"default": 1, "mail": 2}
    time.sleep(0.1)
    assert {q.name: q.consumers for q in broker.queue_stats()} == {"default": 1, "mail": 1}


# --- several processes on one file ---------------------------------------------------------

PRODUCERS = 2
CONSUMERS = 3
DISTINCT = 2_000


def _produce(url: str, offset: int, results: multiprocessing.Queue[tuple[int, int]]) -> None:
    broker = SQLiteBroker(url)
    pushed = refused = 0
    # Each producer sends all ids, in its own order and batch sizes, so every id is offered
    # twice at overlapping times.
    ids = [f"m{(i + offset) % DISTINCT}" for i in range(DISTINCT)]
    size = 1 if offset == 0 else 37
    for start in range(0, len(ids), size):
        batch = [Message(id=i, task="t") for i in ids[start : start + size]]
        for ok in broker.enqueue_many(batch):
            pushed, refused = pushed + ok, refused + (not ok)
    broker.close()
    results.put((pushed, refused))


def _consume(url: str, done_path: str, results: multiprocessing.Queue[list[str]]) -> None:
    broker = SQLiteBroker(url)
    seen: list[str] = []
    idle_since = time.monotonic()
    while True:
        delivery = single.claim(
            broker, ["default"], f"c{os.getpid()}", LEASE, timedelta(milliseconds=50)
        )
        if delivery is None:
            if os.path.exists(done_path) and time.monotonic() - idle_since > 0.3:
                break
            continue
        idle_since = time.monotonic()
        assert single.ack(broker, delivery)
        seen.append(delivery.message_id)
    broker.close()
    results.put(seen)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_producers_and_consumers_in_separate_processes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SQLiteBroker(url).close()
    done = tmp_path / "producers-done"
    ctx = multiprocessing.get_context("spawn")
    produced: multiprocessing.Queue[tuple[int, int]] = ctx.Queue()
    consumed: multiprocessing.Queue[list[str]] = ctx.Queue()
    consumers = [
        ctx.Process(target=_consume, args=(url, str(done), consumed)) for _ in range(CONSUMERS)
    ]
    producers = [
        ctx.Process(target=_produce, args=(url, k * DISTINCT // 2, produced))
        for k in range(PRODUCERS)
    ]
    for p in consumers + producers:
        p.start()
    counts = [produced.get(timeout=45) for _ in producers]
    done.touch()
    seen = [m for _ in consumers for m in consumed.get(timeout=45)]
    for p in consumers + producers:
        p.join(10)
        assert p.exitcode == 0
    assert sum(pushed for pushed, _ in counts) == DISTINCT
    assert sum(refused for _, refused in counts) == DISTINCT * (PRODUCERS - 1)
    assert len(seen) == DISTINCT and set(seen) == {f"m{i}" for i in range(DISTINCT)}
    after = SQLiteBroker(url)
    stats = after.queue_stats()[0]
    assert (stats.ready, stats.delayed, stats.in_flight) == (0, 0, 0)
    after.close()


def test_a_file_made_before_delivery_counts_gets_the_column_and_counts(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SQLiteBroker(url).close()
    with sqlite3.connect(sqlite_path(url)) as conn:  # the tables as older versions made them
        conn.execute("ALTER TABLE messages DROP COLUMN deliveries")
        conn.execute("ALTER TABLE statuses DROP COLUMN deliveries")
    broker = SQLiteBroker(url)
    try:
        assert broker.enqueue_once(Message(id="old", task="t"))
        lease, now = timedelta(seconds=30), timedelta(0)
        [first] = broker.claim_many(["default"], "c", lease, now, 1)
        assert first.deliveries == 1
        assert broker.recover_expired(datetime.now(UTC) + timedelta(minutes=1)) == 1
        [second] = broker.claim_many(["default"], "c", lease, now, 1)
        assert second.deliveries == 2
        status = broker.get_status("old")
        assert status is not None and status.deliveries == 2
    finally:
        broker.close()
