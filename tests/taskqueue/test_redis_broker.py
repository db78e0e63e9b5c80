"""Redis-specific behaviour of the Redis broker (the shared contract is in
test_broker_contract.py): key layout and Cluster slots, authentication, script cache loss,
dedupe windows, error mapping, blocking wake-ups. Real Redis, database from ``redis_url``."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from taskqueue.errors import BrokerError, BrokerUnavailable
from taskqueue.keys import KeySpace
from taskqueue.message import Message
from taskqueue.records import EncodedMessage
from taskqueue.redis import RedisBroker
from taskqueue.urls import open_broker
from tests.faults import procs
from tests.faults.procs import RedisServer
from tests.taskqueue import single

private_redis = procs.private_redis

LEASE = timedelta(seconds=30)
NO_WAIT = timedelta(0)


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    client: Any = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    b = RedisBroker(redis_url)
    yield b
    b.close()


def _with_credentials(url: str, user: str, password: str) -> str:
    return url.replace("redis://", f"redis://{user}:{password}@", 1)


def test_open_broker_picks_redis_and_redacts_the_password(redis_url: str) -> None:
    b = open_broker(_with_credentials(redis_url, "", "s3cret"))
    assert isinstance(b, RedisBroker)
    assert "s3cret" not in b.url and "s3cret" not in repr(b) and ":***@" in b.url
    b.close()


def test_every_key_of_a_queue_is_in_one_cluster_slot(broker: RedisBroker, raw: Any) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    for queue in ("default", "mail", "a:b{weird}"):
        assert (
            broker.enqueue_many(
                [
                    Message(id=f"{queue}-1", task="t", queue=queue),
                    Message(id=f"{queue}-2", task="t", queue=queue, eta=soon),
                    Message(id=f"{queue}-3", task="t", queue=queue),
                    Message(id=f"{queue}-4", task="t", queue=queue),
                ]
            )
            == [True] * 4
        )
        first = single.claim(broker, [queue], "c", LEASE, NO_WAIT)
        assert first is not None and single.dead_letter(broker, first, "x")
        assert single.claim(broker, [queue], "c", LEASE, NO_WAIT) is not None
        broker.heartbeat("w", [queue], LEASE)
    keys = [k.decode() for k in raw.keys("*")]
    per_queue: dict[str, set[int]] = {}
    for key in keys:
        if key in ("beat:queues",) or key.startswith("beat:status:"):
            continue
        tag = key[key.index("{") : key.index("}") + 1]
        per_queue.setdefault(tag, set()).add(key_slot(key.encode()))
    assert set(per_queue) == {"{q:default}", "{q:mail}", "{q:a:b{weird}"}
    assert all(len(slots) == 1 for slots in per_queue.values()), per_queue
    # Every key a script is given (KEYS[]) is in the queue's slot, including dedupe windows.
    space = KeySpace("beat")
    for queue in ("default", "mail"):
        q = space.queue(queue)
        names = [*q.script_keys, q.seen(1000, 5), q.seen(1000, 4)]
        assert {key_slot(k.encode()) for k in names} == {key_slot(q.msg.encode())}
    # Every kind of queue key exists for "default" (none is misnamed or stray).
    kinds = {k.split("}:", 1)[1] for k in keys if "{q:default}" in k and ":seen:" not in k}
    assert kinds >= {
        "ready:0",
        "delayed",
        "msg",
        "inflight",
        "claims",
        "dead",
        "consumers",
    }


def test_custom_prefix_keeps_brokers_apart(redis_url: str, raw: Any) -> None:
    a, b = RedisBroker(redis_url, prefix="appA"), RedisBroker(redis_url, prefix="appB")
    assert a.enqueue_once(Message(id="same", task="t"))
    assert b.enqueue_once(Message(id="same", task="t"))  # separate namespaces
    assert all(k.startswith((b"appA:", b"appB:")) for k in raw.keys("*"))
    with pytest.raises(ValueError, match="prefix"):
        RedisBroker(redis_url, prefix="x{y}")
    a.close()
    b.close()


def test_user_and_password_url_works_and_a_wrong_one_is_refused(redis_url: str, raw: Any) -> None:
    user, password = f"beat-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    raw.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    try:
        b = RedisBroker(_with_credentials(redis_url, user, password))
        assert password not in b.url and user in b.url
        assert b.enqueue_once(Message(id="authed", task="t"))
        delivery = single.claim(b, ["default"], "c", LEASE, NO_WAIT)
        assert delivery is not None and single.ack(b, delivery)
        b.close()
        wrong = RedisBroker(_with_credentials(redis_url, user, "wrong-password"))
        with pytest.raises(BrokerUnavailable) as info:
            wrong.ping()
        assert "wrong-password" not in str(info.value)
        wrong.close()
    finally:
        raw.execute_command("ACL", "DELUSER", user)


def test_rediss_url_uses_tls(redis_url: str) -> None:
    b = RedisBroker(redis_url.replace("redis://", "rediss://", 1))
    pool = b._client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    b.close()


def test_scripts_are_reloaded_after_script_flush(
    private_redis: Callable[..., RedisServer],
) -> None:
    # A server of its own: SCRIPT FLUSH is server-wide and would break the scripts of tests
    # running beside this one on the shared server.
    url = private_redis(persistent=False).url()
    raw = redis.Redis.from_url(url)
    broker = RedisBroker(url)
    try:
        assert broker.enqueue_once(Message(id="before", task="t"))
        raw.script_flush()
        # Direct call (EVALSHA -> NOSCRIPT -> reload) and pipelined batch (checked first).
        delivery = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
        assert delivery is not None and delivery.message_id == "before"
        raw.script_flush()
        batch = [Message(id=f"m{i}", task="t") for i in range(3)]
        assert broker.enqueue_many(batch) == [True] * 3
        raw.script_flush()
        assert single.ack(broker, delivery)
        assert broker.queue_stats()[0].ready == 3
    finally:
        broker.close()
        raw.close()


def test_done_ids_are_remembered_in_a_window_set_with_a_ttl(broker: RedisBroker, raw: Any) -> None:
    ttl = timedelta(hours=1)
    batch = [Message(id=f"fire@{i}", task="t") for i in range(50)]
    assert all(broker.enqueue_many(batch, dedupe_ttl=ttl))
    assert not raw.keys("beat:{q:default}:seen:*")  # queued ids are found in the msg hash
    for _ in range(49):
        delivery = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
        assert delivery is not None and single.ack(broker, delivery)
    last = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert last is not None and single.dead_letter(broker, last, "bad")
    # One set per window, not one key per id.
    [seen] = raw.keys("beat:{q:default}:seen:*")
    assert seen.decode().startswith("beat:{q:default}:seen:3600000:")
    assert raw.scard(seen) == 50
    assert 3_600_000 < raw.pttl(seen) <= 7_200_000
    assert broker.enqueue_many(batch, dedupe_ttl=ttl) == [False] * 50
    # A retried message keeps its TTL: once done, it lands in the same window set.
    assert broker.enqueue_once(Message(id="again", task="t"), dedupe_ttl=ttl)
    d = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert d is not None
    assert single.retry(broker, d, Message(id="again", task="t", attempt=1), datetime.now(UTC))
    d = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert d is not None and single.ack(broker, d)
    assert raw.sismember(seen, "again")


def test_an_id_still_queued_is_refused_even_after_its_window(
    broker: RedisBroker,
) -> None:
    ttl = timedelta(milliseconds=50)
    assert broker.enqueue_once(Message(id="slow", task="t"), dedupe_ttl=ttl)
    delivery = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert delivery is not None
    time.sleep(0.15)  # both windows gone; the message is still in flight
    assert not broker.enqueue_once(Message(id="slow", task="t"), dedupe_ttl=ttl)
    assert broker.queue_stats()[0].ready == 0


def test_server_errors_other_than_connection_are_broker_errors(
    broker: RedisBroker, raw: Any
) -> None:
    raw.set("beat:{q:broken}:ready:0", "not a list")
    with pytest.raises(BrokerError) as info:
        single.claim(broker, ["broken"], "c", LEASE, NO_WAIT)
    assert not isinstance(info.value, BrokerUnavailable)
    assert broker.url in str(info.value)


def test_status_of_a_queued_message_is_found_without_a_status_record(
    broker: RedisBroker, raw: Any
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    assert broker.enqueue_encoded(
        [EncodedMessage.of(Message(id="q1", task="app.a", queue="mail", eta=later, attempt=1))]
    ) == [True]
    assert not raw.keys("beat:status:*")  # enqueue writes no status (burst cost)
    status = broker.get_status("q1")
    assert status is not None and (status.task, status.state, status.attempts) == (
        "app.a",
        "QUEUED",
        1,
    )


def test_two_blocked_claimers_are_both_woken_by_one_batch(redis_url: str) -> None:
    producer = RedisBroker(redis_url)
    got: list[tuple[str, float]] = []

    def consume() -> None:
        b = RedisBroker(redis_url)
        d = single.claim(b, ["default"], "c", LEASE, timedelta(seconds=5))
        got.append(("none" if d is None else d.message_id, time.monotonic()))
        b.close()

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # both are blocked in BLPOP now
    sent_at = time.monotonic()
    assert producer.enqueue_many([Message(id="x", task="t"), Message(id="y", task="t")])
    for t in threads:
        t.join()
    assert sorted(m for m, _ in got) == ["x", "y"]
    # The first wakes on the enqueue's token, the second on the token the first passes on,
    # not on the 1 s BLPOP backstop.
    assert max(at for _, at in got) - sent_at < 0.5
    producer.close()


@pytest.mark.slow
def test_recover_expired_moves_more_than_one_script_step(broker: RedisBroker) -> None:
    n = 2_500
    assert all(broker.enqueue_many([Message(id=f"m{i}", task="t") for i in range(n)]))
    for _ in range(n):
        assert single.claim(broker, ["default"], "c", timedelta(minutes=1), NO_WAIT) is not None
    assert broker.recover_expired(datetime.now(UTC)) == 0
    assert broker.recover_expired(datetime.now(UTC) + timedelta(minutes=2)) == n
    stats = broker.queue_stats()[0]
    assert (stats.ready, stats.in_flight) == (n, 0)
    # Back in their old places: FIFO order survives a lease expiry.
    first = single.claim(broker, ["default"], "c", LEASE, NO_WAIT)
    assert first is not None and first.message_id == "m0"


def test_a_wrong_type_key_of_an_unregistered_queue_is_named(broker: RedisBroker, raw: Any) -> None:
    # No worker heartbeat has registered "default" yet: the key is still named, since this
    # process named the queue in its own call (before: "a status or dedupe key ...").
    from taskqueue.errors import BrokerDataError

    queue = KeySpace().queue("default")
    raw.set(queue.msg, "not a hash")
    raw.rpush(queue.ready[0], "some-id")
    with pytest.raises(BrokerDataError, match=f"key {queue.msg} holds a string"):
        broker.claim_many(["default"], "c", timedelta(seconds=30), timedelta(0), 1)
