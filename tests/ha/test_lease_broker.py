"""The lease operations and the fenced enqueue, on both brokers (real Redis, real SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.errors import Fenced
from taskqueue.message import Headers, Message
from taskqueue.records import EncodedMessage
from taskqueue.redis import RedisBroker
from taskqueue.sqlite import SQLiteBroker

TTL = timedelta(milliseconds=300)


@pytest.fixture(params=["redis", "sqlite"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    b: Broker
    if request.param == "redis":
        b = RedisBroker(request.getfixturevalue("redis_url"), enqueue_chunk=2)
    else:
        b = SQLiteBroker(f"sqlite:///{tmp_path / 'queue.db'}")
    yield b
    b.close()


def encoded(message_id: str, queue: str = "q") -> EncodedMessage:
    now = datetime.now(UTC)
    return EncodedMessage.of(
        Message(id=message_id, task="noop", queue=queue, headers=Headers(enqueued_at=now))
    )


def total(broker: Broker) -> int:
    return sum(s.ready + s.delayed + s.in_flight for s in broker.queue_stats())


def test_tokens_grow_on_every_new_holder(broker: Broker) -> None:
    first = broker.acquire_lease("L", "a", TTL)
    assert first is not None
    assert broker.acquire_lease("L", "b", TTL) is None  # held by a
    assert broker.acquire_lease("L", "a", TTL) == first  # a again: same tenure, same token
    broker.release_lease("L", "a", first)
    second = broker.acquire_lease("L", "b", TTL)
    assert second is not None and second > first
    time.sleep(TTL.total_seconds() + 0.1)  # b's lease runs out
    third = broker.acquire_lease("L", "a", TTL)
    assert third is not None and third > second
    # Leases are independent by name.
    other = broker.acquire_lease("M", "b", TTL)
    assert other is not None


def test_renew_only_by_the_holder_and_only_before_expiry(broker: Broker) -> None:
    # A longer lease than TTL: each renew must land before it runs out, on a loaded machine.
    ttl = timedelta(seconds=1.5)
    token = broker.acquire_lease("L", "a", ttl)
    assert token is not None
    assert not broker.renew_lease("L", "b", token, ttl)  # not the owner
    assert not broker.renew_lease("L", "a", token + 1, ttl)  # not the token
    for _ in range(3):  # renewing keeps it past several ttls
        time.sleep(ttl.total_seconds() * 0.6)
        assert broker.renew_lease("L", "a", token, ttl)
    assert broker.acquire_lease("L", "b", ttl) is None
    time.sleep(ttl.total_seconds() + 0.1)
    assert not broker.renew_lease("L", "a", token, ttl)  # lapsed: renewal refused
    assert broker.lease_holder("L") is None


def test_lease_holder_and_release_by_non_owner(broker: Broker) -> None:
    assert broker.lease_holder("L") is None
    token = broker.acquire_lease("L", "host:1:abc", timedelta(seconds=10))
    assert token is not None
    holder = broker.lease_holder("L")
    assert holder is not None
    assert (holder.owner, holder.token) == ("host:1:abc", token)
    left = (holder.expires_at - datetime.now(UTC)).total_seconds()
    assert 9 < left <= 10.1
    broker.release_lease("L", "someone-else", token)  # ignored
    assert broker.lease_holder("L") is not None
    broker.release_lease("L", "host:1:abc", token)
    assert broker.lease_holder("L") is None


def test_fenced_enqueue_with_the_live_token_pushes(broker: Broker) -> None:
    token = broker.acquire_lease("L", "a", timedelta(seconds=10))
    assert token is not None
    items = [encoded(f"m{i}") for i in range(5)]  # 3 chunks on the Redis broker (chunk 2)
    assert broker.enqueue_encoded(items, fence=("L", token)) == [True] * 5
    assert broker.enqueue_encoded(items[:1], fence=("L", token)) == [False]  # dedupe still on
    assert total(broker) == 5


def test_fenced_enqueue_with_a_stale_token_pushes_nothing(broker: Broker) -> None:
    old = broker.acquire_lease("L", "a", TTL)
    assert old is not None
    time.sleep(TTL.total_seconds() + 0.1)
    items = [encoded(f"m{i}", queue=f"q{i % 2}") for i in range(5)]
    with pytest.raises(Fenced) as lapsed:
        broker.enqueue_encoded(items, fence=("L", old))
    assert (lapsed.value.holder, lapsed.value.current) == (None, None)
    assert "not held by anyone" in str(lapsed.value)
    new = broker.acquire_lease("L", "b", timedelta(seconds=10))
    assert new is not None
    with pytest.raises(Fenced) as taken:
        broker.enqueue_encoded(items, fence=("L", old))
    assert (taken.value.holder, taken.value.current) == ("b", new)
    assert f"fencing token {old} is stale" in str(taken.value)
    assert "held by b" in str(taken.value)
    assert total(broker) == 0
    # Refused ids were not remembered as sent: the new leader pushes every one of them.
    assert broker.enqueue_encoded(items, fence=("L", new)) == [True] * 5


def test_unfenced_enqueue_ignores_leases(broker: Broker) -> None:
    assert broker.acquire_lease("L", "a", timedelta(seconds=10)) is not None
    assert broker.enqueue_encoded([encoded("m")]) == [True]


def test_concurrent_acquire_has_one_winner(broker: Broker) -> None:
    results: list[int | None] = []
    lock = threading.Lock()

    def grab(owner: str) -> None:
        token = broker.acquire_lease("L", owner, timedelta(seconds=10))
        with lock:
            results.append(token)

    threads = [threading.Thread(target=grab, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1


def test_bad_ttl_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        broker.acquire_lease("L", "a", timedelta(0))


def test_tokens_still_grow_after_redis_lost_its_data(redis_url: str) -> None:
    """Redis restarted without its data (no persistence, a failover to an empty replica) also
    loses the fencing counter. Restarting it at 1 would hand out tokens a beat may still hold
    (its renew has not failed yet), and a leader that gets its old number back would take it
    for the same tenure and not reload the run state; the counter restarts from the server's
    clock instead, above every token handed out before. So does a failover to a replica that
    missed the last increment."""
    import redis

    broker = RedisBroker(redis_url)
    try:
        before = [broker.acquire_lease("L", owner, TTL) for owner in ("a",)]
        broker.release_lease("L", "a", before[0] or 0)
        for owner in ("b", "c", "d"):
            token = broker.acquire_lease("L", owner, TTL)
            assert token is not None
            before.append(token)
            broker.release_lease("L", owner, token)
        time.sleep(0.005)  # tokens are ms of the clock: a tenure lasts longer than this
        redis.Redis.from_url(redis_url).flushdb()  # the data loss
        after = broker.acquire_lease("L", "e", TTL)
        assert after is not None and after > max(t or 0 for t in before)
        broker.release_lease("L", "e", after)
        client = redis.Redis.from_url(redis_url)
        counter = broker._lease_keys("L")[1]
        client.set(counter, after - 1)  # the replica promoted had not got the last increment
        time.sleep(0.005)  # as above: the next tenure starts a few ms later at the least
        following = broker.acquire_lease("L", "f", TTL)
        assert following is not None and following > after
    finally:
        broker.close()
