"""Workers dying or freezing mid-task, with real processes on the shared Redis (its own db).

At least once, recorded once: a task whose worker is killed is run again by another worker and
its SUCCESS is recorded by that worker only; a worker frozen past its lease (SIGSTOP) loses the
message to another worker, and when it wakes up (SIGCONT) it can neither ack nor record.
"""

from __future__ import annotations

import signal
import time
import uuid
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


@pytest.mark.slow
def test_kill9_mid_task_is_run_again_elsewhere_and_recorded_once(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    marks = tmp_path / "marks"
    workers = two_workers(spawn, redis_url)
    broker = RedisBroker(redis_url)
    task_id = f"kill9-{uuid.uuid4().hex[:8]}"
    try:
        victim, survivor = run_on_one(
            broker, workers, marks, Message(id=task_id, task="f.mark", args=(str(marks), "k", 2.0))
        )
        victim.kill9_tree()

        wait_until(
            lambda: (s := status(broker, task_id)) is not None and s.state is TaskState.SUCCESS,
            15,
            "the task to be completed by the other worker",
        )
        final = status(broker, task_id)
        assert final is not None
        _, second = runs(marks, "start")  # run twice: at least once, and here exactly
        assert runs(marks, "end") == [second]  # the killed run never finished
        assert owner(workers, second) is survivor
        assert final.result == second and final.attempts == 1  # a redelivery is not a retry
        assert successes(workers, task_id) == 1
        stats = {q.name: q for q in broker.queue_stats()}["default"]
        assert (stats.ready, stats.in_flight, stats.dead) == (0, 0, 0)
        # The id is done: a copy sent now is refused (enqueue-once survives the redelivery).
        assert not broker.enqueue_once(Message(id=task_id, task="f.mark", args=(str(marks), "x")))
    finally:
        broker.close()
    assert survivor.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("freeze", ["machine", "main-process"])
def test_a_worker_frozen_past_its_lease_cannot_ack_or_record(
    tmp_path: Path, redis_url: str, spawn: StartProc, freeze: str
) -> None:
    """``machine``: the worker and its pool stop; ``main-process``: only the consumer stops,
    its pool process finishes the task meanwhile and the outcome waits for it."""
    marks = tmp_path / "marks"
    workers = two_workers(spawn, redis_url)
    broker = RedisBroker(redis_url)
    task_id = f"stop-{uuid.uuid4().hex[:8]}"
    try:
        frozen, other = run_on_one(
            broker, workers, marks, Message(id=task_id, task="f.mark", args=(str(marks), "s", 1.5))
        )
        if freeze == "machine":
            frozen.signal_tree(signal.SIGSTOP)
        else:
            frozen.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: len(runs(marks, "start")) == 2, 10, "the lease to run out")
            second = runs(marks, "start")[1]
            assert owner(workers, second) is other
            wait_until(
                lambda: (s := status(broker, task_id)) is not None and s.state is TaskState.SUCCESS,
                10,
                "the other worker to finish",
            )
            assert status(broker, task_id).result == second  # type: ignore[union-attr]
        finally:
            # Woken after the other worker finished: its own run completes right away, and it
            # must find that the message is no longer its to settle.
            frozen.signal_tree(signal.SIGCONT)
        wait_until(
            lambda: (
                f"[{task_id}] succeeded" in frozen.log() or f"[{task_id}]: finished" in frozen.log()
            ),
            10,
            "the woken worker to settle its run",
        )
        time.sleep(1)
        final = status(broker, task_id)
        assert final is not None and final.state is TaskState.SUCCESS
        assert final.result == second, "the stale worker overwrote the recorded outcome"
        # The woken worker says so (wording: lease lost / not acked / not recorded).
        assert "lease lost" in frozen.log() or "not acked" in frozen.log(), frozen.log()[-3000:]
        assert len(runs(marks, "end")) == 2  # both runs finished: at least once
        stats = {q.name: q for q in broker.queue_stats()}["default"]
        assert (stats.ready, stats.in_flight, stats.dead) == (0, 0, 0)
    finally:
        broker.close()
    for w in workers:
        assert w.stop() == 0
