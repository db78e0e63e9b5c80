"""At-least-once delivery end to end: real worker processes on Redis and on SQLite."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.message import Message, RetryPolicy
from taskqueue.records import TaskState
from tests.worker.conftest import StartWorker, kill9_group, send, wait_status

FAST = ("-c", "2", "--lease", "1s", "--shutdown-timeout", "10s")


def _lines(path: Path, prefix: str) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith(prefix)]


def _dead_reasons(broker: Broker, queue: str = "default") -> list[str]:
    return [d.reason for d in broker.dead_letters(queue)]


def test_success_records_started_then_result_and_attempts(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    start_worker(broker_url, *FAST)
    slow = send(broker, "t.sleep_mark", 0.5, str(marks))
    started = wait_status(broker, slow.id, {TaskState.STARTED})
    assert started.attempts == 1 and started.started_at is not None
    message = send(broker, "t.add", 2, 3)
    status = wait_status(broker, message.id)
    assert (status.state, status.result, status.attempts) == (TaskState.SUCCESS, 5, 1)
    assert status.finished_at is not None and status.task == "t.add"
    assert wait_status(broker, slow.id).state is TaskState.SUCCESS
    stats = {q.name: q for q in broker.queue_stats()}
    assert stats["default"].ready == 0 and stats["default"].in_flight == 0


def test_poison_messages_are_dead_lettered_and_the_worker_goes_on(
    broker: Broker, broker_url: str, start_worker: StartWorker
) -> None:
    class Undecodable(Message):
        def encode(self) -> bytes:
            return b"\xff not json"

    worker = start_worker(broker_url, *FAST)
    assert broker.enqueue_once(Undecodable(id="poison-1", task="t.add"))
    unknown = send(broker, "no.such.task")
    good = send(broker, "t.add", 1, 1)
    assert wait_status(broker, good.id).result == 2
    assert wait_status(broker, unknown.id).state is TaskState.DEAD
    deadline = time.monotonic() + 5
    while len(_dead_reasons(broker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    reasons = sorted(_dead_reasons(broker))
    assert reasons[0].startswith("undecodable: ") and reasons[1] == "unknown task 'no.such.task'"
    assert worker.proc.poll() is None


def test_retries_with_backoff_then_success(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    start_worker(broker_url, *FAST)
    message = send(broker, "t.flaky", str(runs), 2)
    status = wait_status(broker, message.id, {TaskState.SUCCESS, TaskState.FAILURE})
    assert (status.state, status.result, status.attempts) == (TaskState.SUCCESS, "ok after 3", 3)
    assert len(_lines(runs, "run")) == 3


def test_out_of_retries_goes_to_dead_letters_with_failure(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    start_worker(broker_url, *FAST)
    message = send(
        broker,
        "t.flaky",
        str(runs),
        99,
        retry=RetryPolicy(
            max_retries=2,
            backoff=timedelta(milliseconds=20),
            backoff_max=timedelta(milliseconds=50),
        ),
    )
    status = wait_status(broker, message.id, {TaskState.FAILURE})
    assert status.attempts == 3 and "Flaky" in (status.error or "")
    assert len(_lines(runs, "run")) == 3
    deadline = time.monotonic() + 5
    while not _dead_reasons(broker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead_reasons(broker) == [f"out of retries: {status.error}"]


def test_expired_message_is_not_run(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    message = send(
        broker, "t.sleep_mark", 0, str(marks), expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    start_worker(broker_url, *FAST)
    assert wait_status(broker, message.id).state is TaskState.EXPIRED
    assert not marks.exists()


def test_soft_and_hard_time_limits(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    start_worker(broker_url, *FAST)
    soft = send(broker, "t.soft", str(marks))
    hard = send(broker, "t.hang")
    soft_status = wait_status(broker, soft.id)
    hard_status = wait_status(broker, hard.id)
    assert soft_status.state is TaskState.FAILURE
    assert "SoftTimeLimitExceeded" in (soft_status.error or "")
    assert _lines(marks, "cleanup") == ["cleanup"]
    assert hard_status.state is TaskState.FAILURE
    assert (hard_status.error or "").startswith("TimeLimitExceeded")
    after = send(broker, "t.add", 20, 22)  # the killed process was replaced
    assert wait_status(broker, after.id).result == 42


def test_lease_is_renewed_for_a_task_running_three_leases(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    start_worker(broker_url, *FAST)
    start_worker(broker_url, *FAST)  # a second worker that would take a redelivered copy
    message = send(broker, "t.sleep_mark", 3.0, str(marks))
    assert wait_status(broker, message.id).state is TaskState.SUCCESS
    assert len(_lines(marks, "start")) == 1


@pytest.mark.slow
def test_kill9_mid_task_is_completed_by_another_worker(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    first = start_worker(broker_url, *FAST)
    message = send(broker, "t.sleep_mark", 1.0, str(marks))
    # The start mark, not the STARTED state: the broker records STARTED at the claim, before
    # the pool child has begun the task (killing then would leave no first run to count).
    deadline = time.monotonic() + 15
    while not _lines(marks, "start") and time.monotonic() < deadline:
        time.sleep(0.02)
    kill9_group(first)
    assert _lines(marks, "end") == []
    start_worker(broker_url, *FAST)
    status = wait_status(broker, message.id, {TaskState.SUCCESS}, timeout=20)
    assert status.result == "done"
    starts = _lines(marks, "start")
    assert len(starts) == 2 and starts[0] != starts[1]  # run again, by another process


def test_sigterm_drains_running_tasks_and_releases_the_rest(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    worker = start_worker(broker_url, "-c", "1", "--lease", "1s", "--shutdown-timeout", "10s")
    running = send(broker, "t.sleep_mark", 1.0, str(marks), "running")
    wait_status(broker, running.id, {TaskState.STARTED})
    waiting = [send(broker, "t.add", i, i) for i in range(3)]
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert wait_status(broker, running.id).state is TaskState.SUCCESS
    assert _lines(marks, "end") == ["end running"]
    # nothing lost: the three queued messages are still there, and run by the next worker
    start_worker(broker_url, *FAST)
    assert [wait_status(broker, m.id).result for m in waiting] == [0, 2, 4]


def test_second_sigterm_kills_the_running_task_and_releases_it(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    worker = start_worker(broker_url, "-c", "1", "--lease", "1s", "--shutdown-timeout", "30s")
    message = send(broker, "t.sleep_mark", 2.0, str(marks))
    wait_status(broker, message.id, {TaskState.STARTED})
    worker.signal(signal.SIGTERM)
    worker.wait_for_log("shutting down")
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert _lines(marks, "end") == []
    assert "released back to default" in worker.log()
    stats = {q.name: q for q in broker.queue_stats()}
    assert stats["default"].ready == 1 and stats["default"].in_flight == 0
    start_worker(broker_url, *FAST)
    assert wait_status(broker, message.id, {TaskState.SUCCESS}).result == "done"


HUP_TASKS = """
import time

from worker import task

VERSION = {version}


@task(name="hup.version")
def version(delay: float) -> int:
    time.sleep(delay)
    return VERSION
"""


def test_sighup_recycles_the_pool_with_new_code_and_loses_nothing(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    module = tmp_path / "hup_tasks.py"
    module.write_text(HUP_TASKS.format(version=1))
    worker = start_worker(broker_url, "-A", "hup_tasks", *FAST)
    before = [send(broker, "hup.version", 0.3) for _ in range(6)]
    wait_status(broker, before[0].id, {TaskState.STARTED, TaskState.SUCCESS})
    # A different length as well as content, so no stale bytecode can be reused.
    module.write_text(HUP_TASKS.format(version=22))
    worker.signal(signal.SIGHUP)
    worker.wait_for_log("recycling the pool")
    done = [wait_status(broker, m.id, {TaskState.SUCCESS}) for m in before]
    # Nothing dropped and nothing run twice across the recycle.
    assert [s.attempts for s in done] == [1] * len(before)
    after = [send(broker, "hup.version", 0.0) for _ in range(4)]
    assert {wait_status(broker, m.id, {TaskState.SUCCESS}).result for m in after} == {22}
    assert worker.proc.poll() is None, "SIGHUP must not stop the worker"
