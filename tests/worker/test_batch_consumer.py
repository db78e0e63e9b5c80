"""The consumer's batches: claims up to the pool's free slots, settles outcomes together.

An in-process Consumer on a real broker (Redis and SQLite) with a real thread pool, so its
stats can be read. ``CountingBroker`` delegates every call to the real broker and only records
(or, once, fails) batch calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import consumer_tasks  # noqa: F401  (registers the t.* tasks)
import pytest

from taskqueue.broker import Broker
from taskqueue.errors import BrokerUnavailable
from taskqueue.message import Message
from taskqueue.records import Delivery, Settlement, TaskState
from taskqueue.urls import open_broker
from tests.taskqueue import single
from tests.worker.conftest import LEASE, send, threads_consumer, wait_status
from worker.consumer import Consumer


@dataclass
class CountingBroker:
    """A real broker, with its batch calls recorded; ``fail_claims`` claims raise first."""

    inner: Broker
    claim_sizes: list[int] = field(default_factory=list)
    settle_sizes: list[int] = field(default_factory=list)
    fail_claims: int = 0

    def claim_many(
        self, queues: Sequence[str], consumer: str, lease: timedelta, timeout: timedelta, n: int
    ) -> list[Delivery]:
        self.claim_sizes.append(n)
        if self.fail_claims > 0:
            self.fail_claims -= 1
            raise BrokerUnavailable(self.inner.url, "injected")
        return self.inner.claim_many(queues, consumer, lease, timeout, n)

    def settle_many(self, items: Sequence[Settlement], **kw: Any) -> list[bool]:
        self.settle_sizes.append(len(items))
        return self.inner.settle_many(items, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Running:
    consumer: Consumer
    broker: CountingBroker
    thread: threading.Thread

    def stop(self) -> None:
        self.consumer.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def run_consumer(broker_url: str) -> Iterator[Any]:
    started: list[tuple[Running, list[Broker]]] = []

    def run(concurrency: int = 2, fail_claims: int = 0) -> Running:
        brokers = [open_broker(broker_url), open_broker(broker_url)]
        counting = CountingBroker(brokers[0], fail_claims=fail_claims)
        consumer = threads_consumer(counting, brokers[1], concurrency)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        running = Running(consumer, counting, thread)
        started.append((running, brokers))
        return running

    yield run
    for running, brokers in started:
        if running.thread.is_alive():
            running.stop()
        for b in brokers:
            b.close()


def _wait(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_claims_never_exceed_free_slots_plus_claim_ahead_and_outcomes_settle_in_batches(
    broker: Broker, run_consumer: Any
) -> None:
    messages = [Message(id=f"m{i}", task="t.add", args=(i, 1)) for i in range(60)]
    assert all(broker.enqueue_many(messages))
    running = run_consumer(concurrency=3)
    _wait(lambda: running.consumer.stats.succeeded == 60)
    running.stop()
    stats = running.consumer.stats
    assert stats.claimed == 60 and stats.by_state == {"STARTED": 60, "SUCCESS": 60}
    # The free slots, and while tasks are short four times as many claimed ahead.
    assert max(running.broker.claim_sizes) <= 3 + 12
    # Several outcomes went to the broker in one call at least once; none was settled twice.
    assert sum(running.broker.settle_sizes) == 60 and max(running.broker.settle_sizes) > 1
    for m in messages:
        status = broker.get_status(m.id)
        assert status is not None
        assert (status.state, status.result, status.attempts) == (
            TaskState.SUCCESS,
            m.args[0] + 1,
            1,
        )
    assert [(q.ready, q.in_flight) for q in broker.queue_stats() if q.name == "default"] == [(0, 0)]


def test_a_batch_mixing_runnable_and_refused_messages_settles_each_right(
    broker: Broker, run_consumer: Any
) -> None:
    class Raw(Message):
        def encode(self) -> bytes:
            return self.args[0].encode()  # type: ignore[no-any-return]

    past = datetime.now(UTC) - timedelta(seconds=1)
    assert all(
        broker.enqueue_many(
            [
                Message(id="expired", task="t.add", args=(1, 1), expires=past),
                Message(id="unknown", task="no.such.task"),
                Raw(id="garbage", task="t.add", args=("\xff not json",)),
                Raw(id="half", task="t.add", args=('{"task": "t.add", "attempt": 0}',)),
                Message(id="good", task="t.add", args=(2, 2)),
            ]
        )
    )
    running = run_consumer(concurrency=8)  # all five in one claim
    assert wait_status(broker, "good").result == 4
    _wait(lambda: running.consumer.stats.dead_lettered == 3)
    running.stop()
    assert running.broker.claim_sizes[0] == 8
    stats = running.consumer.stats
    assert (stats.claimed, stats.expired, stats.succeeded) == (5, 1, 1)
    expired = broker.get_status("expired")
    assert expired is not None and expired.state is TaskState.EXPIRED
    unknown = broker.get_status("unknown")
    assert unknown is not None and unknown.state is TaskState.DEAD
    assert unknown.error == "unknown task 'no.such.task'"
    # A JSON payload naming its task was recorded STARTED by the claim: now DEAD, not stuck.
    half = broker.get_status("half")
    assert half is not None and half.state is TaskState.DEAD and half.task == "t.add"
    assert half.error is not None and half.error.startswith("undecodable: ")
    garbage = broker.get_status("garbage")
    assert garbage is None or garbage.state is not TaskState.STARTED
    reasons = sorted(d.reason.split(":")[0] for d in broker.dead_letters("default"))
    assert reasons == ["undecodable", "undecodable", "unknown task 'no.such.task'"]


def test_a_rate_limited_message_goes_back_queued_then_runs(
    broker: Broker, run_consumer: Any, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    first = send(broker, "t.limited", str(marks))
    second = send(broker, "t.limited", str(marks))
    running = run_consumer(concurrency=4)
    assert wait_status(broker, first.id).state is TaskState.SUCCESS
    # The second waits for its token (1/s): QUEUED meanwhile, not STARTED.
    waiting = broker.get_status(second.id)
    assert waiting is not None and waiting.state in (TaskState.QUEUED, TaskState.SUCCESS)
    done = wait_status(broker, second.id)
    running.stop()
    assert (done.state, done.attempts) == (TaskState.SUCCESS, 1)
    assert running.consumer.stats.rate_limited >= 1
    times = [float(line) for line in marks.read_text().split()]
    assert len(times) == 2 and times[1] - times[0] >= 0.8


def test_an_outcome_whose_claim_was_lost_is_not_recorded(
    broker: Broker, broker_url: str, run_consumer: Any, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    slow = send(broker, "t.sleep_mark", 0.6, str(marks))
    running = run_consumer(concurrency=1)  # busy: it does not claim the message back
    wait_status(broker, slow.id, {TaskState.STARTED})
    # Another worker takes the message over (as after this one's lease ran out).
    other = open_broker(broker_url)
    try:
        assert other.recover_expired(datetime.now(UTC) + LEASE * 2) == 1
        [taken] = other.claim_many(["default"], "other", LEASE, timedelta(0), 1)
        assert taken.message_id == slow.id
        _wait(lambda: running.consumer.stats.lost == 1)
        running.stop()
        status = other.get_status(slow.id)
        assert status is not None and status.state is TaskState.STARTED  # the new claim's
        assert running.consumer.stats.succeeded == 0
        assert single.ack(other, taken)
    finally:
        other.close()


def test_a_failed_claim_loses_no_finished_outcome(broker: Broker, run_consumer: Any) -> None:
    running = run_consumer(concurrency=2, fail_claims=0)
    messages = [send(broker, "t.add", i, i) for i in range(10)]
    _wait(lambda: running.consumer.stats.succeeded >= 2)
    running.broker.fail_claims = 2  # the next claims fail while outcomes may be buffered
    more = [send(broker, "t.add", i, 0) for i in range(10)]
    _wait(lambda: running.consumer.stats.succeeded == 20)
    running.stop()
    for m in messages + more:
        status = broker.get_status(m.id)
        assert status is not None and status.state is TaskState.SUCCESS
    assert running.consumer.stats.claimed == 20  # nothing ran twice


def test_a_deeply_nested_payload_is_dead_lettered_and_the_loop_goes_on(
    broker: Broker, run_consumer: Any
) -> None:
    class Nested(Message):
        def encode(self) -> bytes:
            return b"[" * 100_000 + b"]" * 100_000

    assert broker.enqueue_once(Nested(id="deep", task="t.add"))
    good = send(broker, "t.add", 1, 2)
    running = run_consumer(concurrency=2)
    assert wait_status(broker, good.id).result == 3
    _wait(lambda: running.consumer.stats.dead_lettered == 1)
    running.stop()
    [letter] = broker.dead_letters("default")
    assert (letter.message_id, letter.reason) == ("deep", "undecodable: JSON nested too deeply")
