"""``beat queues`` tells the truth about consumers and leases: a cleanly stopped worker is gone
at once (not live for its heartbeat's ~15 s), and a kill -9'ed worker's message counts as in
flight only until its lease deadline, then as an expired lease waiting for recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from taskqueue.broker import Broker
from taskqueue.records import QueueStats, TaskState
from tests.worker.conftest import StartWorker, kill9_group, send, wait_status, worker_env


def stats(broker: Broker, queue: str = "default") -> QueueStats:
    # A queue exists once a worker's first heartbeat names it: until then, all zero.
    empty = QueueStats(queue, ready=0, delayed=0, in_flight=0, dead=0, consumers=0)
    return {s.name: s for s in broker.queue_stats()}.get(queue, empty)


def wait_stats(broker: Broker, check: object, timeout: float = 10) -> QueueStats:
    deadline = time.monotonic() + timeout
    while True:
        current = stats(broker)
        if check(current) or time.monotonic() > deadline:  # type: ignore[operator]
            return current
        time.sleep(0.05)


def test_clean_stop_deregisters_the_consumer_at_once(
    broker_url: str, broker: Broker, start_worker: StartWorker
) -> None:
    worker = start_worker(broker_url, "-n", "w-clean", "-c", "1", "-P", "threads")
    assert wait_stats(broker, lambda s: s.consumers == 1).consumers == 1
    worker.signal(15)
    assert worker.wait() == 0
    assert stats(broker).consumers == 0, worker.log()


def test_a_killed_workers_message_is_in_flight_only_until_its_lease_ends(
    broker_url: str, broker: Broker, start_worker: StartWorker, tmp_path: Path
) -> None:
    worker = start_worker(broker_url, "-c", "1", "-P", "threads", "--lease", "2s")
    message = send(broker, "t.sleep_mark", 60, str(tmp_path / "marks"))
    wait_status(broker, message.id, states={TaskState.STARTED})
    kill9_group(worker)
    held = stats(broker)
    assert (held.in_flight, held.expired_lease) == (1, 0)
    time.sleep(2.2)  # past the lease deadline; no worker is left to recover it
    dead = stats(broker)
    assert (dead.in_flight, dead.expired_lease, dead.ready) == (0, 1, 0)
    shown = subprocess.run(
        [sys.executable, "-m", "beat", "queues", "--json", "--broker", broker_url],
        capture_output=True, text=True, env=worker_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    (row,) = [r for r in json.loads(shown.stdout) if r["name"] == "default"]
    assert (row["in_flight"], row["expired_lease"]) == (0, 1), shown
