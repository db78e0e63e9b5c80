"""The Redis broker behind Sentinel and beside replicas (private redis-servers and sentinels):
every role on a ``redis+sentinel://`` URL, a demoted primary taken for an outage (retried),
and ``wait_replicas`` warning when the replicas do not acknowledge an enqueue."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import redis

from taskqueue.errors import BrokerUnavailable
from taskqueue.message import Message
from taskqueue.redis import RedisBroker
from taskqueue.urls import open_broker
from tests.faults import procs
from tests.faults.procs import RedisServer, wait_until
from tests.ha import sentinels
from tests.ha.sentinels import Deployment

private_redis = procs.private_redis
sentinel_cluster = sentinels.sentinel_cluster


def _queued(broker: Any) -> int:
    return sum(q.ready for q in broker.queue_stats())


def test_every_role_works_on_a_sentinel_url(sentinel_cluster: Deployment) -> None:
    broker = open_broker(sentinel_cluster.url(db=2))
    try:
        assert broker.enqueue_once(Message(id="m1", task="t"))
        assert not broker.enqueue_once(Message(id="m1", task="t"))  # the Lua dedupe ran
        assert broker.acquire_lease("beat", "me", timedelta(seconds=5)) is not None
        assert _queued(broker) == 1
    finally:
        broker.close()
    # It went to the primary the sentinels name, database 2.
    primary: Any = redis.Redis(port=sentinel_cluster.primary.port, db=2)
    try:
        assert primary.sismember("beat:queues", "default")
    finally:
        primary.close()


def test_a_write_to_a_replica_is_an_outage_to_retry(private_redis: Any) -> None:
    """A primary demoted by a failover answers READONLY until the client finds the new one:
    transient (BrokerUnavailable, retried with backoff), not a broker error."""
    primary: RedisServer = private_redis(persistent=False)
    replica: RedisServer = private_redis("--replicaof", "127.0.0.1", str(primary.port),
                                         persistent=False)  # fmt: skip
    broker = RedisBroker(replica.url())
    try:
        with pytest.raises(BrokerUnavailable, match="read-only replica"):
            broker.enqueue_once(Message(id="m1", task="t"))
        with pytest.raises(BrokerUnavailable, match="read-only replica"):
            broker.acquire_lease("beat", "me", timedelta(seconds=5))
    finally:
        broker.close()


def test_wait_replicas_warns_once_when_replicas_fall_short(
    private_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    primary: RedisServer = private_redis(persistent=False)
    replica: RedisServer = private_redis("--replicaof", "127.0.0.1", str(primary.port),
                                         persistent=False)  # fmt: skip
    client: Any = redis.Redis(port=replica.port)
    synced = lambda: client.info("replication")["master_link_status"] == "up"  # noqa: E731
    wait_until(synced, 10, "the replica's initial sync")
    client.close()
    caplog.set_level(logging.WARNING, logger="taskqueue.redis.connection")

    enough = RedisBroker(primary.url() + "?wait_replicas=1")
    admin: Any = redis.Redis(port=primary.port)
    try:
        assert enough.enqueue_once(Message(id="a1", task="t"))
        # A flushed script cache: the enqueue is re-sent on its own, with its own WAIT.
        admin.script_flush()
        assert enough.enqueue_once(Message(id="a2", task="t"))
        assert "replica" not in caplog.text
    finally:
        admin.close()
        enough.close()

    short = RedisBroker(primary.url() + "?wait_replicas=2&wait_timeout_ms=50")
    try:
        assert short.enqueue_once(Message(id="b1", task="t"))
        assert short.enqueue_once(Message(id="b2", task="t"))  # the same streak: no new line
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1, warnings
        assert "acknowledged by 1 of 2 replica(s) within 50 ms" in warnings[0]
        assert _queued(short) == 4  # the messages are in the primary all the same
    finally:
        short.close()


def test_no_reachable_sentinel_is_an_outage_naming_each_sentinel() -> None:
    ports = [procs.free_port(), procs.free_port()]
    broker = open_broker(f"redis+sentinel://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster")
    try:
        with pytest.raises(BrokerUnavailable) as caught:
            broker.ping()
    finally:
        broker.close()
    text = str(caught.value)
    for port in ports:
        assert f"sentinel 127.0.0.1:{port} - " in text, text
    assert "no sentinel answered with a primary" in text
    assert "<redis.client" not in text  # not redis-py's repr of each client


def test_one_broker_carries_on_after_a_failover_and_reloads_its_scripts(
    sentinel_cluster: Deployment,
) -> None:
    """The same broker object (as in a running beat or worker) finds the promoted replica,
    whose script cache is empty: its EVALSHAs get NOSCRIPT, load the scripts and run."""
    broker = open_broker(sentinel_cluster.url())
    replica: Any = redis.Redis(port=sentinel_cluster.replica.port)
    try:
        assert broker.enqueue_many([Message(id=f"a{i}", task="t") for i in range(3)]) == [True] * 3
        wait_until(lambda: replica.hlen("beat:{q:default}:msg") == 3, 10, "replication")
        replica.script_flush()
        sentinel_cluster.primary.kill()
        sentinel_cluster.wait_for_failover()

        again = [Message(id="a0", task="t"), Message(id="b1", task="t")]

        def enqueued() -> bool:
            try:
                return broker.enqueue_many(again) == [False, True]
            except BrokerUnavailable:  # the old primary's pooled connections fail first
                return False

        wait_until(enqueued, 15, "an enqueue on the new primary")
        assert _queued(broker) == 4  # what was replicated, plus b1; a0 refused as a duplicate
    finally:
        replica.close()
        broker.close()


def test_a_coordinated_failover_is_only_ever_an_outage(sentinel_cluster: Deployment) -> None:
    """SENTINEL FAILOVER demotes a primary that keeps running: its clients are disconnected
    (Sentinel's CLIENT KILL), and a write that still reaches it is answered READONLY, until
    the client asks the sentinels again. Every failure the broker raises meanwhile is
    BrokerUnavailable (retried), never another broker error, and enqueues go on on the new
    primary."""
    broker = open_broker(sentinel_cluster.url())
    failures: list[BrokerUnavailable] = []  # allowed; anything else fails the test
    sent = 0

    def one() -> None:
        nonlocal sent
        try:
            broker.enqueue_once(Message(id=f"m{sent}", task="t"))
            sent += 1
        except BrokerUnavailable as e:
            failures.append(e)

    try:
        one()
        sentinel_cluster.sentinels[0].client().sentinel_failover(sentinels.SERVICE)
        while sentinel_cluster.primary_port() != sentinel_cluster.replica.port:
            one()
            time.sleep(0.01)
        before = sent

        def reached_new_primary() -> bool:
            one()
            return sent > before and _on_new_primary(sentinel_cluster, f"m{sent - 1}")

        wait_until(reached_new_primary, 15, "an enqueue on the new primary")
    finally:
        broker.close()
    assert sent >= 2


def _on_new_primary(deployment: Deployment, message_id: str) -> bool:
    """The promoted replica is a primary now and holds ``message_id``."""
    client: Any = redis.Redis(port=deployment.replica.port)
    try:
        role = client.info("replication")["role"]
        return bool(role == "master" and client.hexists("beat:{q:default}:msg", message_id))
    finally:
        client.close()
