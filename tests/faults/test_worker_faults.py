"""Workers dying or freezing mid-task, with real processes on the shared Redis (its own db).

At least once, recorded once: a task whose worker is killed is run again by another worker and
its SUCCESS is recorded by that worker only; a worker frozen past its lease (SIGSTOP) loses the
message to another worker, and when it wakes up (SIGCONT) it can neither ack nor record.
"""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskqueue.message import Message
from taskqueue.records import TaskState, TaskStatus
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.faults.procs import Proc, StartProc, parent_of, wait_until

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
spawn = procs.spawn

FAST = ("-A", "fault_tasks", "-c", "1", "--lease", "1s", "--shutdown-timeout", "5s")


def runs(marks: Path, what: str) -> list[int]:
    """Pids of the pool processes that logged ``what`` ('start' or 'end')."""
    if not marks.exists():
        return []
    return [
        int(line.split()[2]) for line in marks.read_text().splitlines() if line.startswith(what)
    ]


def owner(workers: list[Proc], pool_pid: int) -> Proc:
    """The worker whose pool process ``pool_pid`` is."""
    parent = parent_of(pool_pid)
    [found] = [w for w in workers if w.proc.pid == parent]
    return found


def successes(workers: list[Proc], task_id: str) -> int:
    """How many times the workers logged the task as succeeded (after recording it)."""
    return sum(w.log().count(f"[{task_id}] succeeded") for w in workers)


def two_workers(spawn: StartProc, redis_url: str) -> list[Proc]:
    """Two workers of one pool process each, ready."""
    workers = [spawn("worker", "--broker", redis_url, *FAST) for _ in range(2)]
    for w in workers:
        w.wait_for_log(" ready: ")
    return workers


def run_on_one(
    broker: RedisBroker, workers: list[Proc], marks: Path, message: Message
) -> tuple[Proc, Proc]:
    """Send ``message`` (an f.mark task) and wait until it starts: (its worker, the other)."""
    assert broker.enqueue_once(message)
    wait_until(lambda: len(runs(marks, "start")) == 1, 10, "the task to start")
    running = owner(workers, runs(marks, "start")[0])
    return running, next(w for w in workers if w is not running)


def status(broker: RedisBroker, task_id: str) -> TaskStatus | None:
    return broker.get_status(task_id)


def wait_succeeded(broker: RedisBroker, task_id: str, timeout: float, what: str) -> None:
    wait_until(
        lambda: (s := status(broker, task_id)) is not None and s.state is TaskState.SUCCESS,
        timeout,
        what,
    )


@dataclass(frozen=True)
class Running:
    """Two workers, one of them (``worker``) running an f.mark task ``task_id``."""

    marks: Path
    workers: list[Proc]
    broker: RedisBroker
    task_id: str
    worker: Proc
    other: Proc


@contextlib.contextmanager
def a_task_running(
    tmp_path: Path, redis_url: str, spawn: StartProc, kind: str, seconds: float
) -> Iterator[Running]:
    """Start two workers and an f.mark task of ``seconds`` (marked with ``kind``'s first
    letter); wait until it runs on one of them. The broker is closed after the block."""
    marks = tmp_path / "marks"
    workers = two_workers(spawn, redis_url)
    broker = RedisBroker(redis_url)
    task_id = f"{kind}-{uuid.uuid4().hex[:8]}"
    try:
        message = Message(id=task_id, task="f.mark", args=(str(marks), kind[0], seconds))
        worker, other = run_on_one(broker, workers, marks, message)
        yield Running(marks, workers, broker, task_id, worker, other)
    finally:
        broker.close()


@pytest.mark.slow
def test_kill9_mid_task_is_run_again_elsewhere_and_recorded_once(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    with a_task_running(tmp_path, redis_url, spawn, "kill9", 2.0) as t:
        t.worker.kill9_tree()

        wait_succeeded(t.broker, t.task_id, 15, "the task to be completed by the other worker")
        final = status(t.broker, t.task_id)
        assert final is not None
        _, second = runs(t.marks, "start")  # run twice: at least once, and here exactly
        assert runs(t.marks, "end") == [second]  # the killed run never finished
        assert owner(t.workers, second) is t.other
        assert final.result == second and final.attempts == 1  # a redelivery is not a retry
        assert successes(t.workers, t.task_id) == 1
        stats = {q.name: q for q in t.broker.queue_stats()}["default"]
        assert (stats.ready, stats.in_flight, stats.dead) == (0, 0, 0)
        # The id is done: a copy sent now is refused (enqueue-once survives the redelivery).
        assert not t.broker.enqueue_once(
            Message(id=t.task_id, task="f.mark", args=(str(t.marks), "x"))
        )
    assert t.other.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("freeze", ["machine", "main-process"])
def test_a_worker_frozen_past_its_lease_cannot_ack_or_record(
    tmp_path: Path, redis_url: str, spawn: StartProc, freeze: str
) -> None:
    """``machine``: the worker and its pool stop; ``main-process``: only the consumer stops,
    its pool process finishes the task meanwhile and the outcome waits for it."""
    with a_task_running(tmp_path, redis_url, spawn, "stop", 1.5) as t:
        if freeze == "machine":
            t.worker.signal_tree(signal.SIGSTOP)
        else:
            t.worker.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: len(runs(t.marks, "start")) == 2, 10, "the lease to run out")
            second = runs(t.marks, "start")[1]
            assert owner(t.workers, second) is t.other
            wait_succeeded(t.broker, t.task_id, 10, "the other worker to finish")
            assert status(t.broker, t.task_id).result == second  # type: ignore[union-attr]
        finally:
            # Woken after the other worker finished: its own run completes right away, and it
            # must find that the message is no longer its to settle.
            t.worker.signal_tree(signal.SIGCONT)
        wait_until(
            lambda: (
                f"[{t.task_id}] succeeded" in t.worker.log()
                or f"[{t.task_id}]: finished" in t.worker.log()
            ),
            10,
            "the woken worker to settle its run",
        )
        time.sleep(1)
        final = status(t.broker, t.task_id)
        assert final is not None and final.state is TaskState.SUCCESS
        assert final.result == second, "the stale worker overwrote the recorded outcome"
        # The woken worker says so (wording: lease lost / not acked / not recorded).
        log = t.worker.log()
        assert "lease lost" in log or "not acked" in log, log[-3000:]
        assert len(runs(t.marks, "end")) == 2  # both runs finished: at least once
        stats = {q.name: q for q in t.broker.queue_stats()}["default"]
        assert (stats.ready, stats.in_flight, stats.dead) == (0, 0, 0)
    for w in t.workers:
        assert w.stop() == 0
