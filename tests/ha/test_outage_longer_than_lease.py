"""A consumer whose broker is unreachable for longer than the lease (a Sentinel failover takes
seconds): the settlements the outage interrupted reach the broker before anything of this
worker's returns their lapsed leases to ready, so no task runs twice.

An in-process Consumer on a private redis-server with a real thread pool. The loop's broker
object's class is swapped for a subclass whose claim and settle calls raise BrokerUnavailable
for the outage (without reaching Redis); the lease keeper's own broker stays reachable, so it
renews and recovers as it would on the promoted replica.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from taskqueue.errors import BrokerUnavailable
from taskqueue.message import Message
from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.faults.procs import RedisServer
from tests.ha import sentinel_tasks  # noqa: F401  (registers ha.record)
from worker.consumer import Consumer
from worker.pools import make_pool

private_redis = procs.private_redis

LEASE = timedelta(milliseconds=600)
OUTAGE_S = 4 * LEASE.total_seconds()
N = 6


def _outage_after_first_settle(broker: Any) -> list[float]:
    """From the first call that carries outcomes, every claim and settle call of ``broker``
    raises BrokerUnavailable for OUTAGE_S; the list gets the outage's start (monotonic)."""
    started: list[float] = []
    base = type(broker)

    def down(self: Any, items: Any = ()) -> bool:
        if items and not started:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] < OUTAGE_S

    def settle_and_claim(self: Any, items: Any, *args: Any, **kw: Any) -> Any:
        if down(self, items):
            raise BrokerUnavailable(self.url, "injected: no primary")
        return base.settle_and_claim(self, items, *args, **kw)

    def settle_many(self: Any, items: Any, *args: Any, **kw: Any) -> Any:
        if down(self, items):
            raise BrokerUnavailable(self.url, "injected: no primary")
        return base.settle_many(self, items, *args, **kw)

    def claim_many(self: Any, *args: Any, **kw: Any) -> Any:
        if down(self):
            raise BrokerUnavailable(self.url, "injected: no primary")
        return base.claim_many(self, *args, **kw)

    methods = {"settle_and_claim": settle_and_claim, "settle_many": settle_many,
               "claim_many": claim_many}  # fmt: skip
    broker.__class__ = type("Failing", (base,), methods)
    return started


def test_settlements_held_over_an_outage_longer_than_the_lease_are_not_run_again(
    private_redis: Any, tmp_path: Path
) -> None:
    server: RedisServer = private_redis(persistent=False)
    ran = tmp_path / "ran"
    work, renewals, check = (RedisBroker(server.url()) for _ in range(3))
    outage = _outage_after_first_settle(work)
    pool = make_pool("threads", 2, modules=[])
    pool.start()
    consumer = Consumer(work, pool, queues=["default"], name=f"c-{uuid.uuid4().hex[:6]}",
                        lease=LEASE, renewal_broker=renewals)  # fmt: skip
    messages = [Message(id=f"m{i}", task="ha.record", args=(str(ran),)) for i in range(N)]
    thread = threading.Thread(target=consumer.run, daemon=True)

    def all_settled() -> bool:
        states = [getattr(check.get_status(m.id), "state", None) for m in messages]
        return states == [TaskState.SUCCESS] * N

    try:
        assert all(check.enqueue_many(messages))
        thread.start()
        procs.wait_until(all_settled, 30, "every message settled", interval=0.05)
        # Long enough for a lapsed lease to be recovered and its message run again.
        time.sleep(3 * LEASE.total_seconds())
    finally:
        consumer.request_stop()
        thread.join(30)
        for b in (work, renewals, check):
            b.close()
    assert not thread.is_alive()
    assert outage, "no settlement was interrupted: the outage never started"
    runs = Counter(ran.read_text().split())
    assert sorted(runs) == sorted(m.id for m in messages)
    assert max(runs.values()) == 1, [i for i, n in runs.items() if n > 1]
    assert (consumer.stats.claimed, consumer.stats.succeeded, consumer.stats.lost) == (N, N, 0)
