"""A pool process that dies under its task (SIGKILL, OOM killer, segfault): the message is
redelivered like one whose worker died, without spending a retry, and dead-lettered after
``worker.max_deliveries`` deliveries so a task that always kills its process cannot loop
(issue 11, item 8). Real worker processes, on Redis and on SQLite."""

from __future__ import annotations

import time
from pathlib import Path

from beat.cli.render import render_status
from taskqueue.broker import Broker
from taskqueue.records import TaskState
from tests.worker.conftest import StartWorker, send, wait_status

FAST = ("-c", "1", "--lease", "2s")


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_task_whose_process_dies_once_is_redelivered_and_succeeds(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    worker = start_worker(broker_url, *FAST)
    message = send(broker, "t.die_once", str(marks))  # max_retries 0: no retry budget
    status = wait_status(broker, message.id, timeout=20)
    assert (status.state, status.result) == (TaskState.SUCCESS, "survived"), status
    assert status.attempts == 1  # a redelivery is not a retry
    assert status.deliveries == 2
    assert _runs(marks) == 2
    assert "deliveries: 2" in render_status(message.id, status, as_json=False)
    assert worker.proc.poll() is None


def test_a_task_that_always_kills_its_process_is_dead_lettered_after_max_deliveries(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    worker = start_worker(broker_url, *FAST, "--max-deliveries", "2")
    message = send(broker, "t.suicide", str(marks))
    status = wait_status(broker, message.id, timeout=20)
    assert status.state in (TaskState.FAILURE, TaskState.DEAD), status
    assert status.error is not None and "WorkerLost" in status.error
    [dead] = broker.dead_letters("default")
    assert dead.message_id == message.id
    assert "delivered 2 times" in dead.reason and "max_deliveries" in dead.reason, dead.reason
    time.sleep(1)
    assert _runs(marks) == 2  # never a third time
    assert worker.proc.poll() is None
