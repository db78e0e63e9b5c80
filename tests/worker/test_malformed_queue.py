"""Garbage in the queue store: a worker dead-letters it and goes on (issue 11, item 2).

Entries are written straight into Redis / the SQLite file, as a bug, an old version or an
operator with write access could leave them; the worker must never crash or stall on them.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from taskqueue.broker import Broker
from taskqueue.keys import KeySpace, QueueKeys
from taskqueue.records import DeadLetterAction, Settlement, TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import StartWorker, send, wait_status

FAST = ("-c", "2", "--lease", "1s")
# Redis msg hash values that are not "<priority digit><ttl ms>:<payload>".
BAD_REDIS_VALUES = {
    "bad-format": b"notvalidformat",
    "bad-ttl": b'5:{"x":1}',
    "bad-bytes": b"\xff\xfe",
    "bad-priority": b"x100:{}",
    "bad-empty": b"",
}


def _default_queue(redis_url: str) -> tuple[Broker, Any, QueueKeys]:
    """A broker, a raw client and the keys of queue "default", to plant garbage with."""
    return open_broker(redis_url), redis.Redis.from_url(redis_url), KeySpace().queue("default")


def _dead(broker: Broker, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reasons = [d.reason for d in broker.dead_letters("default")]
        if len(reasons) >= count:
            return reasons
        time.sleep(0.05)
    raise AssertionError(f"only {broker.dead_letters('default')} dead-lettered")


def test_malformed_redis_entries_are_dead_lettered_and_the_task_behind_runs(
    redis_url: str, start_worker: StartWorker
) -> None:
    broker, client, queue = _default_queue(redis_url)
    for message_id, value in BAD_REDIS_VALUES.items():
        client.hset(queue.msg, message_id, value)
        client.rpush(queue.ready[0], message_id)
    # An expired claim whose owner record is garbage: recovery must not fail on it either.
    client.hset(queue.msg, "bad-claim", b"086400000:{}")
    client.zadd(queue.inflight, {"bad-claim": 0})
    client.hset(queue.claims, "bad-claim", b"no separator")
    client.hset(queue.deliveries, "bad-format", b"not a count")
    client.sadd(KeySpace().queues, "default")
    good = send(broker, "t.add", 2, 2)
    worker = start_worker(redis_url, *FAST)
    assert wait_status(broker, good.id).result == 4
    reasons = _dead(broker, len(BAD_REDIS_VALUES) + 1)
    malformed = [r for r in reasons if r.startswith("malformed queue entry: ")]
    assert len(malformed) == len(BAD_REDIS_VALUES), reasons
    assert worker.proc.poll() is None
    # A second worker finds nothing left to choke on.
    assert client.hlen(queue.msg) == 0 and client.zcard(queue.inflight) == 0
    broker.close()


def test_wrong_type_key_gives_one_clear_error_line_and_no_crash(
    redis_url: str, start_worker: StartWorker
) -> None:
    broker, client, queue = _default_queue(redis_url)
    client.set(queue.msg, "not a hash")
    client.rpush(queue.ready[0], "some-id")  # a claim reads the msg hash only for an id
    worker = start_worker(redis_url, *FAST)
    worker.wait_for_log(queue.msg)
    time.sleep(2)
    assert worker.proc.poll() is None
    lines = [line for line in worker.log().splitlines() if queue.msg in line]
    assert len(lines) == 1, lines
    assert "WRONGTYPE" in lines[0] or "wrong type" in lines[0]
    client.delete(queue.msg)  # repaired: the worker picks up work again
    good = send(broker, "t.add", 1, 2)
    assert wait_status(broker, good.id, timeout=20).result == 3
    broker.close()


def test_malformed_sqlite_rows_are_dead_lettered_and_the_task_behind_runs(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    broker = open_broker(url)
    broker.heartbeat("setup", ["default"], timedelta(seconds=1))
    rows = [
        ("text-payload", 0, "'notvalidformat'"),
        ("blob-payload", 0, "x'fffe'"),
        ("bad-utf8-text", 0, "CAST(x'fffe' AS TEXT)"),
        ("bad-priority", "'abc'", "x'7b7d'"),
    ]
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        for message_id, priority, payload in rows:
            conn.execute(
                "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, payload) "
                f"VALUES (?, 'default', {priority}, 'ready', 0, {payload})",
                (message_id,),
            )
        conn.execute(
            "INSERT INTO messages (message_id, queue, priority, state, ready_at_s, payload) "
            "VALUES (CAST(x'fffe' AS TEXT), 'default', 0, 'ready', 0, x'7b7d')"
        )
    good = send(broker, "t.add", 2, 3)
    worker = start_worker(url, *FAST)
    assert wait_status(broker, good.id).result == 5
    reasons = _dead(broker, len(rows) + 1)
    assert len(reasons) == len(rows) + 1
    assert worker.proc.poll() is None
    broker.close()


@pytest.mark.parametrize("value", list(BAD_REDIS_VALUES.values()))
def test_redis_broker_reports_the_problem_instead_of_failing(redis_url: str, value: bytes) -> None:
    broker, client, queue = _default_queue(redis_url)
    client.hset(queue.msg, "bad", value)
    client.rpush(queue.ready[0], "bad")
    [delivery] = broker.claim_many(["default"], "c", timedelta(seconds=30), timedelta(0), 5)
    assert delivery.message_id == "bad" and delivery.problem
    assert broker.settle_many([Settlement(delivery, DeadLetterAction("x"), None)]) == [True]
    assert [d.message_id for d in broker.dead_letters("default")] == ["bad"]
    assert (
        broker.get_status("bad") is None or broker.get_status("bad").state is not TaskState.STARTED
    )
    broker.close()
