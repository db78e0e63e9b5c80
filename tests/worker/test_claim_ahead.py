"""Claim-ahead (worker.consumer.ahead): while tasks are short the consumer claims a few more
than its free slots and starts them the moment a slot frees; what it holds is bounded in
number and time, released at a stop, and revocable before it runs.

An in-process Consumer on a real broker (Redis and SQLite) with a real thread pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import consumer_tasks  # noqa: F401  (registers the t.* tasks)
import pytest

from taskqueue.broker import Broker
from taskqueue.message import Message
from taskqueue.records import TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import send, threads_consumer, wait_status
from tests.worker.test_batch_consumer import CountingBroker
from worker.consumer import Consumer, ahead
from worker.pool import Outcome, OutcomeKind


@pytest.fixture
def consumer_of(broker_url: str) -> Iterator[Any]:
    """Start a consumer (threads pool) over a claim-counting broker; stopped at the end."""
    started: list[tuple[Consumer, threading.Thread, list[Broker]]] = []

    def start(concurrency: int) -> tuple[Consumer, CountingBroker]:
        brokers = [open_broker(broker_url), open_broker(broker_url)]
        counting = CountingBroker(brokers[0])
        consumer = threads_consumer(counting, brokers[1], concurrency)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        started.append((consumer, thread, brokers))
        return consumer, counting

    yield start
    for consumer, thread, brokers in started:
        consumer.request_stop()
        thread.join(30)
        for b in brokers:
            b.close()


def _until(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _short_tasks(broker: Broker, n: int) -> list[Message]:
    messages = [Message(id=f"short{i}", task="t.add", args=(i, 1)) for i in range(n)]
    assert all(broker.enqueue_many(messages))
    return messages


def test_short_tasks_are_claimed_ahead_of_the_free_slots(broker: Broker, consumer_of: Any) -> None:
    messages = _short_tasks(broker, 80)
    consumer, counting = consumer_of(2)
    _until(lambda: consumer.stats.succeeded == 80)
    # More than the two free slots at least once, never more than four times as many again.
    assert 2 < max(counting.claim_sizes) <= 2 + 8
    assert consumer.stats.by_state == {"STARTED": 80, "SUCCESS": 80}
    for m in messages:
        status = broker.get_status(m.id)
        assert status is not None
        assert (status.state, status.attempts, status.deliveries) == (TaskState.SUCCESS, 1, 1)


def _hold_behind_a_long_task(
    broker: Broker, consumer_of: Any, tmp_path: Path, seconds: float
) -> tuple[Consumer, Message, Message]:
    """One slot: short tasks (claim-ahead starts), then a long one; the message after it is
    claimed ahead while the long one runs."""
    _short_tasks(broker, 6)
    long = send(broker, "t.sleep_mark", seconds, str(tmp_path / "marks"), "long")
    after = send(broker, "t.sleep_mark", 0, str(tmp_path / "marks"), "after")
    consumer, _ = consumer_of(1)
    wait_status(broker, long.id, {TaskState.STARTED})
    return consumer, long, after


def test_a_delivery_held_behind_a_long_task_goes_back_to_the_queue(
    broker: Broker, consumer_of: Any, tmp_path: Path
) -> None:
    consumer, _, after = _hold_behind_a_long_task(broker, consumer_of, tmp_path, 1.5)
    # Held at most HOLD_MAX, then back at the head of ready, QUEUED, for any worker.
    _until(lambda: consumer.stats.released == 1, timeout=1.0)
    [stats] = [q for q in broker.queue_stats() if q.name == "default"]
    assert (stats.ready, stats.in_flight) == (1, 1)
    waiting = broker.get_status(after.id)
    assert waiting is not None and waiting.state is TaskState.QUEUED
    # Run once the slot is free; the release did not count as a delivery.
    done = wait_status(broker, after.id)
    assert (done.state, done.attempts, done.deliveries) == (TaskState.SUCCESS, 1, 1)
    marks = (tmp_path / "marks").read_text().split("\n")
    assert [m.split()[:2] for m in marks if m] == [
        ["start", "long"],
        ["end", "long"],
        ["start", "after"],
        ["end", "after"],
    ]


def test_a_stop_releases_what_is_held(
    broker: Broker, consumer_of: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ahead, "HOLD_MAX", timedelta(seconds=30))
    consumer, long, after = _hold_behind_a_long_task(broker, consumer_of, tmp_path, 0.5)
    _until(lambda: len(consumer._ahead) == 1)
    consumer.request_stop()
    assert wait_status(broker, long.id).state is TaskState.SUCCESS
    _until(lambda: consumer.stats.released == 1)
    [stats] = [q for q in broker.queue_stats() if q.name == "default"]
    assert (stats.ready, stats.in_flight) == (1, 0)
    status = broker.get_status(after.id)
    assert status is not None and status.state is TaskState.QUEUED
    assert "after" not in (tmp_path / "marks").read_text()


def test_a_held_delivery_revoked_with_terminate_never_runs(
    broker: Broker, consumer_of: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ahead, "HOLD_MAX", timedelta(seconds=30))
    consumer, long, after = _hold_behind_a_long_task(broker, consumer_of, tmp_path, 2.5)
    _until(lambda: len(consumer._ahead) == 1)
    assert broker.revoke(after.id, terminate=True).where == "running"
    revoked = wait_status(broker, after.id, timeout=5)
    assert revoked.state is TaskState.REVOKED
    assert wait_status(broker, long.id).state is TaskState.SUCCESS
    assert "after" not in (tmp_path / "marks").read_text()
    assert consumer.stats.revoked == 1


def _outcomes(*runtimes_ms: float) -> list[Outcome]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Outcome(
            f"j{i}",
            OutcomeKind.SUCCESS,
            started_at=start,
            finished_at=start + timedelta(milliseconds=ms),
        )
        for i, ms in enumerate(runtimes_ms)
    ]


def test_one_slow_outlier_does_not_stop_claiming_ahead_two_in_a_row_do() -> None:
    held = ahead.ClaimAhead(2, timedelta(seconds=30))
    held.observe(_outcomes(*[1] * 7))
    assert held.wanted() == 0  # not yet 4 x concurrency short ones
    held.observe(_outcomes(1, 1, 1, 1, 1, 1, 1, 1, 1))
    assert held.wanted() == 8
    held.observe(_outcomes(50))  # a preempted no-op on a loaded machine (old code: off)
    assert held.wanted() == 8
    held.observe(_outcomes(50, 50))
    assert held.wanted() == 0
    held.observe(_outcomes(*[50] * 20, *[1] * 7))
    assert held.wanted() == 0
