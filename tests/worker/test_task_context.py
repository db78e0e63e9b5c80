"""Inside a task (issue 14 item 4): bind=True, self.request, self.update_state, self.retry;
real worker processes, both pools, both brokers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import context_tasks
import pytest

from taskqueue.broker import Broker
from taskqueue.message import Headers, Message, fire_id
from tests.worker.conftest import StartWorker, wait_status
from worker import TaskFailed, TaskResult


def _start(start_worker: StartWorker, url: str, pool: str = "prefork") -> None:
    start_worker(url, "-A", "context_tasks", "-Q", "default", "-c", "2", "-P", pool)


def test_bound_task_sees_its_request(producer: str, start_worker: StartWorker) -> None:
    _start(start_worker, producer)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    sent = context_tasks.request.apply_async((1,), {"b": 2}, task_id="req-1", expires=expires)
    got = sent.get(timeout=15)
    assert got["name"] == "ctx.request" and got["id"] == "req-1"
    assert got["args"] == [1] and got["kwargs"] == {"b": 2}
    assert got["retries"] == 0 and got["deliveries"] == 1
    assert abs(datetime.fromisoformat(got["expires"]) - expires) < timedelta(milliseconds=1)
    assert got["entry"] is None and got["scheduled_for"] is None
    # A call from application code: no parent, its own root (tests/worker/test_lineage.py).
    assert got["parent_id"] is None and got["root_id"] == "req-1"


def test_bound_task_of_a_beat_fire_sees_entry_and_instant(
    producer: str, broker: Broker, start_worker: StartWorker
) -> None:
    _start(start_worker, producer, "threads")
    instant = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    message = Message(
        id=fire_id("nightly", instant),
        task="ctx.request",
        args=(7,),
        headers=Headers(enqueued_at=datetime.now(UTC), entry="nightly", scheduled_for=instant),
    )
    assert broker.enqueue_once(message)
    got = TaskResult(message.id).get(timeout=15)
    assert got["entry"] == "nightly"
    assert datetime.fromisoformat(got["scheduled_for"]) == instant
    assert got["id"] == message.id and got["args"] == [7]


def _beat_status(url: str, task_id: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "beat", "status", task_id, "--broker", url, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    data: dict[str, object] = json.loads(out.stdout)
    return data


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_progress_is_visible_while_the_task_runs(
    producer: str, start_worker: StartWorker, tmp_path: Path, pool: str
) -> None:
    _start(start_worker, producer, pool)
    gate = tmp_path / "gate"
    result = context_tasks.progress.delay(str(gate))
    deadline = time.monotonic() + 15
    while result.state != "PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.state == "PROGRESS"
    assert result.info == {"done": 1, "total": 2} and not result.ready()
    shown = _beat_status(producer, result.id)
    assert shown["state"] == "PROGRESS" and shown["result"] == {"done": 1, "total": 2}
    gate.touch()
    assert result.get(timeout=15) == "finished"
    assert result.state == "SUCCESS"


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_self_retry_counts_against_max_retries(
    producer: str, broker: Broker, start_worker: StartWorker, pool: str
) -> None:
    _start(start_worker, producer, pool)
    until = context_tasks.retry_until.delay(2)
    assert until.get(timeout=15) == 2
    status = broker.get_status(until.id)
    assert status is not None and status.attempts == 3

    forever = context_tasks.retry_forever.delay()
    with pytest.raises(TaskFailed) as failed:
        forever.get(timeout=15)
    assert failed.value.type == "ValueError" and failed.value.message == "attempt 2"
    final = wait_status(broker, forever.id)
    assert final.attempts == 3  # the first run and max_retries=2 retries
    assert any(d.message_id == forever.id for d in broker.dead_letters("default"))


def test_update_state_refuses_a_state_of_the_worker() -> None:
    from worker.context import BoundTask, Request

    reports: list[object] = []
    bound = BoundTask(context_tasks.progress, Request(id="x", task="ctx.progress"), reports.append)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SUCCESS"):
        bound.update_state(state="SUCCESS")
    with pytest.raises(TypeError, match="JSON"):
        bound.update_state(meta={"x": object()})
    assert reports == []
