"""While a task runs and a slot is free, the worker waits on its pool, not in a blocking
claim on Redis.

Redis ends a blocking command's timeout only at its next internal tick (hz 10 by default:
every 100 ms), so a worker sitting in BLPOP while a task finishes settled it up to ~100 ms
late, and every `delay().get()` round trip took ~100 ms (bench/bench_calling.py). The check is
structural: the worker issues no BLPOP while its task runs (it claims without blocking and
waits on the pool, which returns the moment the task ends).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from taskqueue.message import Message
from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.worker.conftest import StartWorker

private_redis = procs.private_redis


def _blpops(client: Any) -> int:
    stats = client.info("commandstats").get("cmdstat_blpop", {})
    return int(stats.get("calls", 0))


def _state(broker: RedisBroker, task_id: str) -> TaskState | None:
    status = broker.get_status(task_id)
    return None if status is None else status.state


def _wait_for(broker: RedisBroker, task_id: str, state: TaskState, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _state(broker, task_id) is not state:
        assert time.monotonic() < deadline, f"{task_id} never reached {state}"
        time.sleep(0.02)


def test_a_busy_worker_with_a_free_slot_does_not_block_on_redis(
    private_redis: Any, start_worker: StartWorker
) -> None:
    url = private_redis(persistent=False).url(0)
    start_worker(url, "-A", "calling_tasks", "-c", "2")
    client: Any = redis.Redis.from_url(url)
    broker = RedisBroker(url)
    try:
        assert broker.enqueue_once(Message(id="long", task="c.sleep", args=(1.5,)))
        _wait_for(broker, "long", TaskState.STARTED, 20)
        time.sleep(0.2)  # the claim that started it has returned
        before = _blpops(client)
        time.sleep(1.0)  # the task runs; one slot is free
        during = _blpops(client) - before
        _wait_for(broker, "long", TaskState.SUCCESS, 20)
        # Old code: a BLPOP every ~100 ms (about 10 here). Now: none while a task runs.
        assert during == 0, f"{during} BLPOPs while a task ran"
    finally:
        broker.close()
        client.close()


def _evalshas(client: Any) -> int:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0))


def test_a_round_trip_sends_no_claim_that_is_bound_to_find_nothing(
    private_redis: Any, start_worker: StartWorker
) -> None:
    """Issue 14: per ``delay().get()`` of a quick task the old worker ran 5 scripts besides
    the enqueue: the claim it woke up with; right after starting the task (a slot still
    free) a claim that found nothing; the settle; then, going idle, a claim before its BLPOP,
    though nothing could have become ready since the last. Now it waits briefly on the pool
    before claiming while busy (a quick task is settled with the next claim, in one round
    trip), and a blocking claim right after an empty one starts with its BLPOP: 3 scripts
    (woken claim, settle + claim), 4 with the enqueue. Counted over 20 round trips of a 1 ms
    task, allowing for a few that took longer than the wait on a loaded machine.
    """
    url = private_redis(persistent=False).url(0)
    start_worker(url, "-A", "calling_tasks", "-c", "2", "-P", "prefork")
    client: Any = redis.Redis.from_url(url)
    broker = RedisBroker(url)
    try:
        for i in range(5):  # warm-up: the worker is up and idle in its blocking claim
            assert broker.enqueue_once(Message(id=f"warm{i}", task="c.add", args=(1, 1)))
            _wait_for(broker, f"warm{i}", TaskState.SUCCESS, 30)
        time.sleep(0.2)
        before = _evalshas(client)
        for i in range(20):
            assert broker.enqueue_once(Message(id=f"rt{i}", task="c.sleep", args=(0.001,)))
            _wait_for(broker, f"rt{i}", TaskState.SUCCESS, 30)
            time.sleep(0.05)  # the worker is back in its blocking claim
        per_round_trip = (_evalshas(client) - before) / 20
        assert per_round_trip < 4.6, f"{per_round_trip} scripts per round trip (old code: 5)"
    finally:
        broker.close()
        client.close()
