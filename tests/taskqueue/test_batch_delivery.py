"""The batch half of the Broker contract (``claim_many``, ``settle_many``), on every broker.

Same fixtures as test_broker_contract.py: a fresh Redis database or a new SQLite file per test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from taskqueue.broker import ACK, Broker, Delivery, Settlement
from taskqueue.message import Message
from taskqueue.records import DeadLetterAction, RetryAction, TaskState, TaskStatus
from taskqueue.urls import open_broker
from tests.faults import procs
from tests.faults.procs import RedisServer
from tests.taskqueue import single
from tests.taskqueue.conftest import Open

private_redis = procs.private_redis

LEASE = timedelta(seconds=30)
NO_WAIT = timedelta(0)


def _stats(broker: Broker, queue: str = "default") -> tuple[int, int, int, int]:
    [s] = [s for s in broker.queue_stats() if s.name == queue]
    return (s.ready, s.delayed, s.in_flight, s.dead)


def _claim_many(broker: Broker, n: int, queues: list[str] | None = None) -> list[Delivery]:
    return broker.claim_many(queues or ["default"], "c", LEASE, NO_WAIT, n)


def _done(d: Delivery, state: TaskState = TaskState.SUCCESS, **kw: object) -> TaskStatus:
    return TaskStatus(
        id=d.message_id,
        task="t",
        state=state,
        attempts=1,
        result=kw.get("result"),
        error=kw.get("error"),  # type: ignore[arg-type]
        finished_at=datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    )


# --- claim_many -----------------------------------------------------------------------------


def test_claim_many_keeps_priority_then_fifo_then_queue_order(broker: Broker) -> None:
    assert all(
        broker.enqueue_many(
            [
                Message(id="low-1", task="t"),
                Message(id="high", task="t", priority=9),
                Message(id="low-2", task="t"),
                Message(id="mid", task="t", priority=5),
                Message(id="other", task="t", queue="other", priority=9),
            ]
        )
    )
    first = _claim_many(broker, 3, ["default", "other"])
    assert [d.message_id for d in first] == ["high", "mid", "low-1"]
    # The batch is filled from the next queue once the first runs dry.
    second = _claim_many(broker, 5, ["default", "other"])
    assert [(d.message_id, d.queue) for d in second] == [("low-2", "default"), ("other", "other")]
    assert _claim_many(broker, 5, ["default", "other"]) == []
    tokens = [d.token for d in first + second]
    assert len(set(tokens)) == len(tokens)  # each claim is owned on its own
    assert _stats(broker) == (0, 0, 4, 0)


def test_claim_many_records_started_with_attempt_and_time(broker: Broker) -> None:
    assert broker.enqueue_many(
        [Message(id="a", task="app.a"), Message(id="b", task="app.b", attempt=2)]
    ) == [True, True]
    before = datetime.now(UTC) - timedelta(milliseconds=5)
    claimed = _claim_many(broker, 5)
    assert [d.message_id for d in claimed] == ["a", "b"]
    a, b = broker.get_status("a"), broker.get_status("b")
    assert a is not None and b is not None
    assert (a.task, a.state, a.attempts) == ("app.a", TaskState.STARTED, 1)
    assert (b.task, b.state, b.attempts) == ("app.b", TaskState.STARTED, 3)
    assert a.started_at is not None and a.started_at >= before
    assert a.finished_at is None and a.result is None


def test_claim_many_takes_no_more_than_asked(broker: Broker) -> None:
    assert all(broker.enqueue_many([Message(id=f"m{i}", task="t") for i in range(5)]))
    assert [d.message_id for d in _claim_many(broker, 2)] == ["m0", "m1"]
    status = broker.get_status("m2")
    assert status is not None and status.state is TaskState.QUEUED  # not claimed, not started
    assert _stats(broker) == (3, 0, 2, 0)


def test_claim_many_gives_an_undecodable_payload_no_status(broker: Broker) -> None:
    class Undecodable(Message):
        def encode(self) -> bytes:
            return b"\xff not json"

    assert broker.enqueue_once(Undecodable(id="poison", task="t"))
    [d] = _claim_many(broker, 2)
    assert d.payload == b"\xff not json"
    status = broker.get_status("poison")
    assert status is None or status.state is not TaskState.STARTED


def test_claim_many_waits_for_a_message_then_returns_at_once(open_: Open) -> None:
    consumer, producer = open_(), open_()
    assert consumer.claim_many(["default"], "c", LEASE, timedelta(milliseconds=50), 4) == []
    pushed: list[bool] = []

    def push_later() -> None:
        time.sleep(0.2)
        pushed.append(producer.enqueue_once(Message(id="late", task="t")))

    thread = threading.Thread(target=push_later)
    t0 = time.monotonic()
    thread.start()
    got = consumer.claim_many(["default"], "c", LEASE, timedelta(seconds=5), 4)
    elapsed = time.monotonic() - t0
    thread.join()
    assert pushed == [True]
    assert [d.message_id for d in got] == ["late"]
    assert 0.1 < elapsed < 2.0


def test_claim_many_promotes_due_delayed_and_recovers_expired(broker: Broker) -> None:
    eta = datetime.now(UTC) + timedelta(milliseconds=100)
    assert broker.enqueue_many([Message(id="later", task="t", eta=eta), Message(id="x", task="t")])
    [lost] = broker.claim_many(["default"], "c", timedelta(milliseconds=50), NO_WAIT, 1)
    assert lost.message_id == "x"
    time.sleep(0.2)
    again = _claim_many(broker, 5)
    assert sorted(d.message_id for d in again) == ["later", "x"]
    assert not single.ack(broker, lost)


def test_claim_many_refuses_a_count_below_one(broker: Broker) -> None:
    with pytest.raises(ValueError, match="max_count"):
        _claim_many(broker, 0)


# --- settle_many ----------------------------------------------------------------------------


def test_settle_many_applies_each_action_with_its_status(broker: Broker) -> None:
    assert all(broker.enqueue_many([Message(id=i, task="t") for i in ("ok", "again", "bad")]))
    ok, again, bad = _claim_many(broker, 3)
    eta = datetime.now(UTC) + timedelta(seconds=60)
    retry_status = _done(again, TaskState.RETRY, error="boom")
    result = broker.settle_many(
        [
            Settlement(ok, ACK, _done(ok, result={"n": 1})),
            Settlement(
                again, RetryAction(Message(id="again", task="t", attempt=1), eta), retry_status
            ),
            Settlement(bad, DeadLetterAction("out of retries: boom"), _done(bad, TaskState.DEAD)),
        ]
    )
    assert result == [True, True, True]
    assert _stats(broker) == (0, 1, 0, 1)
    assert broker.get_status("ok") == _done(ok, result={"n": 1})
    assert broker.get_status("again") == retry_status
    dead = broker.get_status("bad")
    assert dead is not None and dead.state is TaskState.DEAD
    [letter] = broker.dead_letters("default")
    assert (letter.message_id, letter.reason) == ("bad", "out of retries: boom")
    # The acked id is remembered for enqueue-once; the retried one waits with attempt 1.
    assert broker.enqueue_once(Message(id="ok", task="t")) is False


def test_settle_many_retry_due_now_is_ready_again(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="r", task="t", priority=4))
    [d] = _claim_many(broker, 1)
    nxt = Message(id="r", task="t", priority=4, attempt=1)
    assert broker.settle_many([Settlement(d, RetryAction(nxt, datetime.now(UTC)), None)]) == [True]
    [again] = _claim_many(broker, 1)
    assert Message.decode(again.payload).attempt == 1 and again.token != d.token


def test_settle_many_refuses_lost_claims_and_writes_no_status_for_them(broker: Broker) -> None:
    assert all(broker.enqueue_many([Message(id="mine", task="t"), Message(id="lost", task="t")]))
    mine, lost = broker.claim_many(["default"], "c", timedelta(milliseconds=50), NO_WAIT, 2)
    assert broker.extend(mine, LEASE) is not None
    assert broker.recover_expired(datetime.now(UTC) + timedelta(seconds=1)) == 1
    [redelivered] = _claim_many(broker, 1)
    assert redelivered.message_id == "lost"
    settled = broker.settle_many(
        [Settlement(mine, ACK, _done(mine)), Settlement(lost, ACK, _done(lost))]
    )
    assert settled == [True, False]
    lost_status = broker.get_status("lost")
    assert lost_status is not None and lost_status.state is TaskState.STARTED  # the new claim's
    assert _stats(broker) == (0, 0, 1, 0)
    assert single.ack(broker, redelivered)


def test_settle_many_spans_queues_in_order(broker: Broker) -> None:
    assert all(
        broker.enqueue_many([Message(id="a", task="t"), Message(id="b", task="t", queue="q2")])
    )
    claimed = _claim_many(broker, 2, ["q2", "default"])
    assert [d.queue for d in claimed] == ["q2", "default"]
    forged = Delivery("a", "default", b"", "forged", claimed[1].lease_until)
    settled = broker.settle_many(
        [Settlement(forged, ACK, None), *(Settlement(d, ACK, _done(d)) for d in claimed)]
    )
    assert settled == [False, True, True]
    assert _stats(broker, "q2") == (0, 0, 0, 0) and _stats(broker) == (0, 0, 0, 0)


def test_settle_many_refuses_a_non_json_result_before_writing(broker: Broker) -> None:
    assert all(broker.enqueue_many([Message(id="a", task="t"), Message(id="b", task="t")]))
    a, b = _claim_many(broker, 2)
    with pytest.raises(TypeError):
        broker.settle_many(
            [Settlement(a, ACK, _done(a)), Settlement(b, ACK, _done(b, result=object()))]
        )
    assert _stats(broker) == (0, 0, 2, 0)  # nothing settled, a included
    assert broker.settle_many([]) == []


def test_settle_many_final_statuses_expire_after_the_ttl(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="a", task="t"))
    [a] = _claim_many(broker, 1)
    status = _done(a)
    assert broker.settle_many([Settlement(a, ACK, status)], result_ttl=timedelta(milliseconds=150))
    assert broker.get_status("a") == status
    time.sleep(0.3)
    assert broker.get_status("a") is None


def test_redis_batch_calls_survive_a_flushed_script_cache(
    private_redis: Callable[..., RedisServer],
) -> None:
    import redis

    # A server of its own: SCRIPT FLUSH is server-wide and would break the scripts of tests
    # running beside this one on the shared server.
    redis_url = private_redis(persistent=False).url()
    broker = open_broker(redis_url)
    try:
        assert all(broker.enqueue_many([Message(id=i, task="t") for i in ("a", "b")]))
        redis.Redis.from_url(redis_url).script_flush()
        claimed = broker.claim_many(["default"], "c", LEASE, NO_WAIT, 2)
        assert [d.message_id for d in claimed] == ["a", "b"]
        redis.Redis.from_url(redis_url).script_flush()
        assert broker.settle_many([Settlement(d, ACK, _done(d)) for d in claimed]) == [True] * 2
        assert _stats(broker) == (0, 0, 0, 0)
    finally:
        broker.close()


def test_claim_many_survives_a_deeply_nested_payload(broker: Broker) -> None:
    class Nested(Message):
        def encode(self) -> bytes:
            return b"[" * 100_000 + b"]" * 100_000

    assert broker.enqueue_many([Nested(id="deep", task="t"), Message(id="next", task="t")])
    claimed = _claim_many(broker, 2)
    assert [d.message_id for d in claimed] == ["deep", "next"]
    deep = broker.get_status("deep")
    assert deep is None or deep.state is not TaskState.STARTED


# --- settle_and_claim -----------------------------------------------------------------------


def test_settle_and_claim_settles_then_claims_across_queues(broker: Broker) -> None:
    assert all(
        broker.enqueue_many(
            [
                Message(id="a", task="t"),
                Message(id="b", task="t"),
                Message(id="c", task="t"),
                Message(id="x", task="t", queue="other"),
            ]
        )
    )
    [a] = _claim_many(broker, 1)
    stale = Delivery(a.message_id, a.queue, a.payload, "not-the-token", a.lease_until)
    items = [Settlement(a, ACK, _done(a, result=1)), Settlement(stale, ACK, _done(stale))]
    settled, claimed = broker.settle_and_claim(items, ["default", "other"], "c", LEASE, 3)
    # The stale claim applied nothing; the batch was filled from the next queue.
    assert settled == [True, False]
    assert [(d.message_id, d.queue) for d in claimed] == [
        ("b", "default"),
        ("c", "default"),
        ("x", "other"),
    ]
    status = broker.get_status("a")
    assert status is not None and (status.state, status.result) == (TaskState.SUCCESS, 1)
    started = broker.get_status("b")
    assert started is not None and started.state is TaskState.STARTED
    assert _stats(broker) == (0, 0, 2, 0) and _stats(broker, "other") == (0, 0, 1, 0)
    # Nothing to settle and nothing to claim: both empty, no waiting.
    assert broker.settle_and_claim([], ["nothing-here"], "c", LEASE, 2) == ([], [])


def test_settle_and_claim_refuses_a_result_that_is_not_json_before_writing(broker: Broker) -> None:
    assert broker.enqueue_many([Message(id="a", task="t"), Message(id="b", task="t")])
    [a] = _claim_many(broker, 1)
    with pytest.raises((TypeError, ValueError)):
        broker.settle_and_claim(
            [
                Settlement(a, ACK, _done(a, result={1})),
            ],
            ["default"],
            "c",
            LEASE,
            1,
        )
    # Neither settled nor claimed: "a" still in flight under its claim, "b" still ready.
    assert _stats(broker) == (1, 0, 1, 0)
    assert broker.settle_many([Settlement(a, ACK, _done(a))]) == [True]
