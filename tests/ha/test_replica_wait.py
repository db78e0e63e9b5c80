"""``wait_replicas`` on the worker's writes (private redis-servers): claims and settles end with
a WAIT on the connection that wrote them, like enqueues, so a failover cannot lose a claim whose
task ran or a settle the worker took as done; and a call whose connection fails before the
WAIT's reply is an outage (its claims are not handed out, its settles are sent again).

Without the option nothing is added: no WAIT, the same round trips."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from taskqueue.errors import BrokerUnavailable
from taskqueue.message import Message
from taskqueue.records import AckAction, Settlement
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.faults.procs import RedisServer, wait_until

private_redis = procs.private_redis

LEASE = timedelta(seconds=30)
QUEUES = ["default"]
INFLIGHT = "beat:{q:default}:inflight"


def _waits(admin: Any) -> int:
    """WAIT commands the server has run."""
    return int(admin.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


def _ack(delivery: Any) -> Settlement:
    return Settlement(delivery, AckAction(), None)


def _replicated_pair(private_redis: Any) -> tuple[RedisServer, RedisServer]:
    primary: RedisServer = private_redis(persistent=False)
    replica: RedisServer = private_redis("--replicaof", "127.0.0.1", str(primary.port),
                                         persistent=False)  # fmt: skip
    client: Any = redis.Redis(port=replica.port)
    try:
        synced = lambda: client.info("replication")["master_link_status"] == "up"  # noqa: E731
        wait_until(synced, 10, "the replica's initial sync")
    finally:
        client.close()
    return primary, replica


def test_claims_and_settles_wait_for_the_replica(private_redis: Any) -> None:
    primary, replica = _replicated_pair(private_redis)
    admin: Any = redis.Redis(port=primary.port)
    copy: Any = redis.Redis(port=replica.port)
    plain = RedisBroker(primary.url())
    acked = RedisBroker(primary.url() + "?wait_replicas=1&wait_timeout_ms=2000")
    try:
        assert plain.enqueue_many([Message(id=f"m{i}", task="t") for i in range(3)]) == [True] * 3
        waits = _waits(admin)
        # Without the option: no WAIT.
        [d0] = plain.claim_many(QUEUES, "c", LEASE, timedelta(0), 1)
        assert plain.settle_many([_ack(d0)]) == [True]
        assert _waits(admin) == waits
        # With it: one WAIT per call, and the call returns once the replica has the write.
        [d1] = acked.claim_many(QUEUES, "c", LEASE, timedelta(0), 1)
        assert d1.message_id == "m1"
        assert _waits(admin) == waits + 1
        assert copy.zscore(INFLIGHT, "m1") is not None
        settled, [d2] = acked.settle_and_claim([_ack(d1)], QUEUES, "c", LEASE, 1)
        assert settled == [True] and d2.message_id == "m2"
        assert _waits(admin) == waits + 2
        assert copy.zrange(INFLIGHT, 0, -1) == [b"m2"]
        assert acked.settle_many([_ack(d2)]) == [True]
        assert _waits(admin) == waits + 3
        assert copy.zcard(INFLIGHT) == 0
    finally:
        for c in (admin, copy, plain, acked):
            c.close()


def _cut_off(admin: Any, call: Callable[[], object]) -> object:
    """Run ``call`` in a thread and kill its connection while it is blocked in WAIT (the
    primary dying before the replica acknowledged); what the call returned or raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as e:
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    blocked: list[int] = []

    def in_wait() -> bool:
        blocked[:] = [int(c["id"]) for c in admin.client_list() if c.get("cmd") == "wait"]
        return bool(blocked)

    try:
        wait_until(in_wait, 10, "the call's WAIT")
        admin.client_kill_filter(_id=blocked[0])
    finally:
        thread.join(10)
    assert outcome, "the call did not return"
    return outcome[0]


def test_a_claim_or_settle_cut_off_before_its_wait_reply_is_an_outage(private_redis: Any) -> None:
    """No replica at all, so every WAIT blocks until its timeout (2 s); the connection is
    killed meanwhile."""
    server: RedisServer = private_redis(persistent=False)
    admin: Any = redis.Redis(port=server.port)
    plain = RedisBroker(server.url())
    acked = RedisBroker(server.url() + "?wait_replicas=1&wait_timeout_ms=2000")
    try:
        assert plain.enqueue_once(Message(id="m0", task="t"))
        claim = _cut_off(admin, lambda: acked.claim_many(QUEUES, "c", LEASE, timedelta(0), 1))
        # The claim ran on the primary, but whether a replica has it is unknown: its delivery
        # is not handed out (run now, it could run again after a failover).
        assert isinstance(claim, BrokerUnavailable), claim
        # It is in flight under a token no one holds: back once its lease ran out, and then
        # delivered once (at least once, not twice).
        assert plain.claim_many(QUEUES, "c", LEASE, timedelta(0), 1) == []
        later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
        assert plain.recover_expired(now=later) == 1
        [again] = plain.claim_many(QUEUES, "c", LEASE, timedelta(0), 1)
        assert (again.message_id, again.deliveries) == ("m0", 2)

        settle = _cut_off(admin, lambda: acked.settle_many([_ack(again)]))
        assert isinstance(settle, BrokerUnavailable), settle
        # The worker sends it again (settling is idempotent): it was applied once.
        assert plain.settle_many([_ack(again)]) == [False]
        assert admin.zcard(INFLIGHT) == 0
        assert plain.claim_many(QUEUES, "c", LEASE, timedelta(0), 1) == []
    finally:
        for c in (admin, plain, acked):
            c.close()


@pytest.mark.parametrize("query", ["", "?wait_replicas=1&wait_timeout_ms=50"])
def test_a_short_wait_on_claims_and_settles_warns_once_and_proceeds(
    private_redis: Any, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    """The promoted replica of a failover has no replica of its own: every WAIT falls short.
    One warning for the streak, and the claims and settles go through."""
    server: RedisServer = private_redis(persistent=False)
    plain = RedisBroker(server.url())
    broker = RedisBroker(server.url() + query)
    caplog.set_level("WARNING", logger="taskqueue.redis.connection")
    try:
        assert plain.enqueue_many([Message(id=f"m{i}", task="t") for i in range(2)]) == [True] * 2
        [d0] = broker.claim_many(QUEUES, "c", LEASE, timedelta(0), 1)
        settled, [d1] = broker.settle_and_claim([_ack(d0)], QUEUES, "c", LEASE, 1)
        assert settled == [True]
        assert broker.settle_many([_ack(d1)]) == [True]
    finally:
        plain.close()
        broker.close()
    warnings = [r.getMessage() for r in caplog.records]
    if not query:
        assert warnings == []
        return
    assert len(warnings) == 1, warnings
    assert "claim acknowledged by 0 of 1 replica(s) within 50 ms" in warnings[0]
