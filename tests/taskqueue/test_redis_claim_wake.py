"""The Redis claim's hot path: a woken claim costs one round trip; claim tokens stay unique.

Issue 14 / 17: a claimer blocked in BLPOP used to wake up and then send its claim script in a
second round trip (a message waited one more round trip before it started). The claim now
goes out in the same write as the BLPOP, so Redis runs it the moment the wait ends. Claim
tokens are no longer drawn from os.urandom per claim, but a forked process must still never
hand out its parent's tokens.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from taskqueue.message import Message
from taskqueue.redis import RedisBroker

LEASE = timedelta(seconds=30)


@pytest.fixture
def brokers(redis_url: str) -> Iterator[tuple[RedisBroker, RedisBroker]]:
    consumer, producer = RedisBroker(redis_url), RedisBroker(redis_url)
    try:
        yield consumer, producer
    finally:
        consumer.close()
        producer.close()


def _blocked_clients(url: str) -> int:
    """Clients blocked on this test's database: the server's own count (INFO) includes every
    other test and process blocked on the same Redis, which would start the test too soon."""
    client: Any = redis.Redis.from_url(url)
    try:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        listed = client.client_list()
        return sum(1 for c in listed if int(c["db"]) == db and "b" in c["flags"])
    finally:
        client.close()


def test_a_woken_claim_takes_its_message_in_the_same_round_trip(
    brokers: tuple[RedisBroker, RedisBroker], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, producer = brokers
    got: list[Any] = []
    counting = threading.Event()

    def claim() -> None:
        # Loads the scripts and connects (a first call's extra writes) and finds nothing.
        assert consumer.claim_many(["default"], "c", LEASE, timedelta(0), 1) == []
        time.sleep(0.2)  # long enough ago that the blocking claim below claims first
        counting.set()
        got.extend(consumer.claim_many(["default"], "c", LEASE, timedelta(seconds=10), 1))

    claimer = threading.Thread(target=claim)
    # Writes to Redis made by the claiming thread's blocking claim (the real connection,
    # counted on the way).
    writes: list[int] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counting_send(self: Any, *args: Any, **kw: Any) -> None:
        if threading.current_thread() is claimer and counting.is_set():
            writes.append(1)
        send(self, *args, **kw)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting_send)
    claimer.start()
    deadline = time.monotonic() + 10
    while _blocked_clients(redis_url) == 0:
        assert time.monotonic() < deadline, "the claim never blocked"
        time.sleep(0.01)
    assert producer.enqueue_once(Message(id="woken", task="t"))
    claimer.join(10)
    assert [d.message_id for d in got] == ["woken"]
    # A claim that found nothing, then BLPOP + claim in one write (old code: a third write,
    # the claim sent only after the BLPOP's reply came back).
    assert len(writes) == 2, f"{len(writes)} writes"


def test_claim_tokens_never_repeat_in_a_forked_process(
    brokers: tuple[RedisBroker, RedisBroker], redis_url: str
) -> None:
    consumer, producer = brokers
    assert producer.enqueue_many([Message(id=f"m{i}", task="t") for i in range(4)]) == [True] * 4
    [first] = consumer.claim_many(["default"], "c", LEASE, timedelta(0), 1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: claims through a connection of its own
        code = 1
        try:
            child = RedisBroker(redis_url)
            [mine] = child.claim_many(["default"], "c", LEASE, timedelta(0), 1)
            os.write(write_end, mine.token.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_token = os.read(read_end, 200).decode()
    os.close(read_end)
    assert status == 0
    [second] = consumer.claim_many(["default"], "c", LEASE, timedelta(0), 1)
    tokens = {first.token, second.token, child_token}
    assert len(tokens) == 3, tokens
