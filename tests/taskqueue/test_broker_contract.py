"""The Broker contract, run against every broker: Redis (real server) and SQLite (real file).

Each test gets a factory that opens brokers on one fresh queue store (a flushed Redis database,
or a new SQLite file), so a test can also use two broker objects, or two processes, on it.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskqueue.broker import Broker
from taskqueue.errors import BrokerUnavailable
from taskqueue.message import MAX_MESSAGE_BYTES, Headers, Message, fire_id
from taskqueue.message_template import MessageTemplate, json_instant
from taskqueue.records import (
    ACK,
    Delivery,
    EncodedMessage,
    Promoted,
    Settlement,
    TaskState,
    TaskStatus,
)
from taskqueue.urls import open_broker
from tests.taskqueue import single
from tests.taskqueue.conftest import Open

LEASE = timedelta(seconds=30)
NO_WAIT = timedelta(0)


def _claim(broker: Broker, queues: list[str] | None = None, **kw: timedelta) -> Delivery:
    delivery = single.claim(
        broker, queues or ["default"], "c", kw.get("lease", LEASE), kw.get("timeout", NO_WAIT)
    )
    assert delivery is not None
    return delivery


def _drain(broker: Broker, queues: list[str]) -> list[str]:
    order = []
    while (d := single.claim(broker, queues, "c", LEASE, NO_WAIT)) is not None:
        order.append(d.message_id)
    return order


def _stats(broker: Broker, queue: str = "default") -> tuple[int, int, int, int, int]:
    [s] = [s for s in broker.queue_stats() if s.name == queue]
    return (s.ready, s.delayed, s.in_flight, s.dead, s.consumers)


# --- enqueue-once ---------------------------------------------------------------------------


def test_enqueue_once_refuses_duplicates_single_batch_and_encoded(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="a", task="t"))
    assert not broker.enqueue_once(Message(id="a", task="t", args=(1,)))
    batch = [Message(id=i, task="t") for i in ("b", "a", "b", "c")]
    assert broker.enqueue_many(batch) == [True, False, False, True]
    encoded = [EncodedMessage.of(Message(id=i, task="t")) for i in ("d", "c", "d")]
    assert broker.enqueue_encoded(encoded) == [True, False, False]
    assert broker.enqueue_many([]) == [] and broker.enqueue_encoded([]) == []
    assert _stats(broker) == (4, 0, 0, 0, 0)
    first = _claim(broker)
    assert Message.decode(first.payload).args == ()  # the refused copy changed nothing


def test_duplicates_refused_across_two_broker_objects(open_: Open) -> None:
    one, two = open_(), open_()
    assert one.enqueue_once(Message(id="fire@1", task="t"))
    assert not two.enqueue_once(Message(id="fire@1", task="t"))
    assert two.enqueue_many([Message(id="fire@2", task="t")]) == [True]
    assert one.enqueue_many([Message(id="fire@2", task="t")]) == [False]
    assert _stats(one) == (2, 0, 0, 0, 0)


def test_an_id_stays_refused_after_its_message_is_done(broker: Broker) -> None:
    # A beat replaying a fire after the task ran must not run it again.
    assert broker.enqueue_once(Message(id="ran", task="t"))
    assert single.ack(broker, _claim(broker))
    assert not broker.enqueue_once(Message(id="ran", task="t"))
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None


def test_dedupe_ttl_runs_out_and_the_id_can_be_sent_again(broker: Broker) -> None:
    ttl = timedelta(milliseconds=500)
    assert broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=ttl)
    assert not broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=ttl)
    assert single.ack(broker, _claim(broker))
    done = time.monotonic()
    # Remembered at least the TTL (tested above and in the previous test); at most twice it
    # after the message was done (SQLite counts from the enqueue, Redis from the ack).
    time.sleep(max(0.0, done + 2 * ttl.total_seconds() + 0.05 - time.monotonic()))
    assert broker.enqueue_once(Message(id="fire", task="t"), dedupe_ttl=ttl)
    assert _claim(broker).message_id == "fire"


ENQUEUERS = 2
IDS = 600


def _enqueue_all(url: str, offset: int, start: Any, out: multiprocessing.Queue[int]) -> None:
    broker = open_broker(url)
    start.wait(30)  # both processes are up (imports done) before either sends
    ids = [f"m{(i + offset) % IDS}" for i in range(IDS)]
    size = 1 if offset == 0 else 50
    pushed = 0
    for start in range(0, IDS, size):
        batch = [Message(id=i, task="t") for i in ids[start : start + size]]
        if offset % 2:
            pushed += sum(broker.enqueue_encoded([EncodedMessage.of(m) for m in batch]))
        else:
            pushed += sum(broker.enqueue_many(batch))
    broker.close()
    out.put(pushed)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_concurrent_enqueue_from_two_processes_pushes_each_id_once(
    store_url: str, broker: Broker
) -> None:
    broker.ping()  # creates the SQLite file before the processes race to open it
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    start = ctx.Barrier(ENQUEUERS)
    procs = [
        ctx.Process(target=_enqueue_all, args=(store_url, k * (IDS // 2 + 1), start, out))
        for k in range(ENQUEUERS)
    ]
    for p in procs:
        p.start()
    pushed = [out.get(timeout=50) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    # Each id pushed once in all (which process wins each is up to the scheduler).
    assert sum(pushed) == IDS
    assert _stats(broker) == (IDS, 0, 0, 0, 0)
    assert sorted(_drain(broker, ["default"])) == sorted(f"m{i}" for i in range(IDS))


def test_oversized_message_is_refused_and_nothing_is_queued(broker: Broker) -> None:
    big = Message(id="big", task="t", args=("x" * MAX_MESSAGE_BYTES,))
    with pytest.raises(ValueError, match=r"big.*exceeds the limit"):
        broker.enqueue_once(big)
    with pytest.raises(ValueError, match="exceeds the limit"):
        broker.enqueue_many([Message(id="ok", task="t"), big])
    with pytest.raises(ValueError, match=r"raw.*exceeds the limit"):
        EncodedMessage("raw", "default", 0, None, b"x" * (MAX_MESSAGE_BYTES + 1), "t")
    assert broker.enqueue_once(Message(id="ok", task="t"))  # the refused batch left no trace
    assert _stats(broker) == (1, 0, 0, 0, 0)


# --- order and delay ------------------------------------------------------------------------


def test_priority_9_first_then_fifo_then_queue_order(broker: Broker) -> None:
    batch = [
        Message(id="low-1", task="t", priority=0),
        Message(id="high-1", task="t", priority=9),
        Message(id="mid", task="t", priority=5),
        Message(id="low-2", task="t", priority=0),
        Message(id="high-2", task="t", priority=9),
        Message(id="other", task="t", queue="other", priority=9),
    ]
    assert broker.enqueue_many(batch[:3]) == [True] * 3
    assert broker.enqueue_once(batch[3]) and broker.enqueue_once(batch[4])
    assert broker.enqueue_encoded([EncodedMessage.of(batch[5])]) == [True]
    assert _drain(broker, ["default", "other"]) == [
        "high-1",
        "high-2",
        "mid",
        "low-1",
        "low-2",
        "other",
    ]


def test_delayed_message_is_promoted_only_when_due(broker: Broker) -> None:
    eta = datetime.now(UTC) + timedelta(milliseconds=300)
    assert broker.enqueue_once(Message(id="later", task="t", eta=eta))
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert broker.enqueue_once(Message(id="past-eta", task="t", eta=past))  # ready at once
    assert _stats(broker) == (1, 1, 0, 0, 0)
    assert _claim(broker).message_id == "past-eta"
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None
    delivery = single.claim(broker, ["default"], "c", LEASE, timedelta(seconds=3))
    assert delivery is not None and delivery.message_id == "later"
    assert datetime.now(UTC) >= eta


def test_promoted_delayed_message_keeps_its_priority(broker: Broker) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=200)
    assert broker.enqueue_many(
        [
            Message(id="urgent-later", task="t", priority=9, eta=soon),
            Message(id="low-now", task="t", priority=1),
        ]
    ) == [True, True]
    time.sleep(0.3)
    assert _drain(broker, ["default"]) == ["urgent-later", "low-now"]


def test_promote_due_makes_due_delayed_messages_ready_without_a_claim(broker: Broker) -> None:
    # Beat promotes the fires it pushed ahead at their instant; a countdown sent by anyone
    # else is promoted alike. Only what is due moves, and it keeps its priority.
    assert broker.promote_due("default") == Promoted(0, None)
    now = datetime.now(UTC)
    soon = now + timedelta(milliseconds=300)
    assert (
        broker.enqueue_many(
            [
                Message(id="ready-low", task="t", priority=1),
                Message(id="soon-low", task="t", priority=1, eta=soon),
                Message(id="soon-high", task="t", priority=9, eta=soon),
                Message(id="in-an-hour", task="t", eta=now + timedelta(hours=1)),
            ]
        )
        == [True] * 4
    )
    early = broker.promote_due("default")
    assert early.moved == 0
    assert early.next_due_in is not None and early.next_due_in <= timedelta(milliseconds=300)
    assert _stats(broker) == (1, 3, 0, 0, 0)
    time.sleep(0.4)
    due = broker.promote_due("default")
    assert due.moved == 2 and _stats(broker) == (3, 1, 0, 0, 0)
    assert due.next_due_in is not None and due.next_due_in > timedelta(minutes=59)
    assert _drain(broker, ["default"]) == ["soon-high", "ready-low", "soon-low"]


def test_promote_due_moves_a_large_burst_in_one_call(broker: Broker) -> None:
    # More than one promotion chunk (10,000 on Redis): the caller sees them all moved.
    n = 12_345
    eta = datetime.now(UTC) + timedelta(seconds=3)  # after the pushes, even on a slow machine
    items = [EncodedMessage(f"b{i}", "burst", 0, eta, b'{"task":"t"}', "t") for i in range(n)]
    for start in range(0, n, 5_000):
        assert all(broker.enqueue_encoded(items[start : start + 5_000]))
    ready, delayed = _stats(broker, "burst")[:2]
    assert ready + delayed == n  # what was pushed after the eta went straight to ready
    if delayed <= 10_000:
        pytest.skip("the machine was too slow to push the burst ahead of its eta")
    # A message's due time is its delay from when its chunk was packed, so on a loaded
    # machine a few can come due a little after the eta: wait until every one is due.
    time.sleep(max(0.0, (eta - datetime.now(UTC)).total_seconds()) + 1.0)
    assert broker.promote_due("burst") == Promoted(delayed, None)
    assert _stats(broker, "burst")[:2] == (n, 0)


def test_claim_times_out_with_none(broker: Broker) -> None:
    broker.heartbeat("w", ["default"], LEASE)
    start = time.monotonic()
    assert single.claim(broker, ["default"], "c", LEASE, timedelta(milliseconds=300)) is None
    assert 0.28 <= time.monotonic() - start < 2.0
    start = time.monotonic()
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None
    assert time.monotonic() - start < 0.5


def test_blocked_claim_wakes_for_a_message_from_another_broker(open_: Open) -> None:
    consumer, producer = open_(), open_()
    consumer.ping()
    sent_at: list[float] = []

    def send() -> None:
        time.sleep(0.2)
        sent_at.append(time.monotonic())
        producer.enqueue_once(Message(id="wake", task="t", queue="mail"))

    sender = threading.Thread(target=send)
    sender.start()
    delivery = single.claim(consumer, ["default", "mail"], "c", LEASE, timedelta(seconds=5))
    got_at = time.monotonic()
    sender.join()
    assert delivery is not None and (delivery.message_id, delivery.queue) == ("wake", "mail")
    assert got_at - sent_at[0] < 0.5


# --- leases and ownership -------------------------------------------------------------------


def test_expired_lease_is_recovered_and_redelivered_keeping_priority(broker: Broker) -> None:
    assert broker.enqueue_many(
        [Message(id="urgent", task="t", priority=9), Message(id="meh", task="t")]
    ) == [True, True]
    lost = _claim(broker, lease=timedelta(milliseconds=50))
    assert lost.message_id == "urgent"
    assert broker.recover_expired(datetime.now(UTC)) == 0  # not expired yet
    assert broker.recover_expired(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert _stats(broker) == (2, 0, 0, 0, 0)
    again = _claim(broker)
    assert again.message_id == "urgent" and again.token != lost.token
    assert again.payload == lost.payload
    # The dead worker's claim is void everywhere; the new one works.
    assert broker.extend(lost, LEASE) is None
    assert not single.ack(broker, lost) and not broker.release(lost)
    assert not single.retry(
        broker, lost, Message(id="urgent", task="t", attempt=1), datetime.now(UTC)
    )
    assert not single.dead_letter(broker, lost, "x")
    assert single.ack(broker, again)
    assert _stats(broker) == (1, 0, 0, 0, 0)


def test_live_lease_is_extended_and_not_recovered(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="long", task="t"))
    d = _claim(broker, lease=timedelta(seconds=1))
    longer = broker.extend(d, timedelta(hours=1))
    assert longer is not None and longer.lease_until > d.lease_until + timedelta(minutes=50)
    assert longer.lease_until.tzinfo is not None
    assert broker.recover_expired(datetime.now(UTC) + timedelta(minutes=30)) == 0
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None
    assert single.ack(broker, longer)


def test_forged_token_cannot_touch_a_claim(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="a", task="t"))
    a = _claim(broker)
    forged = Delivery(a.message_id, a.queue, a.payload, "not-the-token", a.lease_until)
    assert broker.extend(forged, LEASE) is None
    assert not single.ack(broker, forged) and not broker.release(forged)
    assert not single.retry(broker, forged, Message(id="a", task="t", attempt=1), datetime.now(UTC))
    assert not single.dead_letter(broker, forged, "x")
    assert _stats(broker) == (0, 0, 1, 0, 0)
    assert single.ack(broker, a) and not single.ack(broker, a)
    assert _stats(broker) == (0, 0, 0, 0, 0)


def test_retry_is_delayed_with_the_new_attempt(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="r", task="t", priority=3))
    first = _claim(broker)
    eta = datetime.now(UTC) + timedelta(milliseconds=300)
    assert single.retry(broker, first, Message(id="r", task="t", priority=3, attempt=1), eta)
    assert _stats(broker) == (0, 1, 0, 0, 0)
    assert single.claim(broker, ["default"], "c", LEASE, NO_WAIT) is None
    again = single.claim(broker, ["default"], "c", LEASE, timedelta(seconds=3))
    assert again is not None and datetime.now(UTC) >= eta
    assert Message.decode(again.payload).attempt == 1 and again.token != first.token
    assert not single.ack(broker, first) and single.ack(broker, again)


def test_retry_due_now_is_ready_again(broker: Broker) -> None:
    assert broker.enqueue_once(Message(id="r", task="t"))
    first = _claim(broker)
    assert single.retry(broker, first, Message(id="r", task="t", attempt=1), datetime.now(UTC))
    assert _stats(broker) == (1, 0, 0, 0, 0)
    assert Message.decode(_claim(broker).payload).attempt == 1


def test_release_returns_the_message_to_its_old_place(broker: Broker) -> None:
    assert broker.enqueue_many([Message(id=i, task="t") for i in ("a", "b", "c")]) == [True] * 3
    a = _claim(broker)
    assert a.message_id == "a"
    assert broker.enqueue_once(Message(id="d", task="t"))
    assert broker.release(a) and not broker.release(a)
    assert _drain(broker, ["default"]) == ["a", "b", "c", "d"]


def test_dead_letters_keep_reason_payload_and_order(broker: Broker) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert broker.enqueue_many([Message(id=f"m{i}", task="t") for i in range(3)]) == [True] * 3
    claims = [_claim(broker) for _ in range(3)]
    reasons = ["unknown task 't'", "undecodable", "out of retries"]
    for d, reason in zip(claims, reasons, strict=True):
        assert single.dead_letter(broker, d, reason)
    assert not single.dead_letter(broker, claims[0], "twice")
    dead = broker.dead_letters("default")
    assert [(x.message_id, x.reason) for x in dead] == [
        ("m0", "unknown task 't'"),
        ("m1", "undecodable"),
        ("m2", "out of retries"),
    ]
    assert [x.payload for x in dead] == [d.payload for d in claims]
    assert all(x.queue == "default" and before <= x.at <= datetime.now(UTC) for x in dead)
    assert [x.message_id for x in broker.dead_letters("default", limit=2)] == ["m0", "m1"]
    assert broker.dead_letters("nowhere") == []
    assert _stats(broker) == (0, 0, 0, 3, 0)


# --- observing ------------------------------------------------------------------------------


def test_queue_stats_count_every_state_and_live_consumers(broker: Broker) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (
        broker.enqueue_many(
            [
                Message(id="r1", task="t"),
                Message(id="r2", task="t"),
                Message(id="f", task="t"),
                Message(id="x", task="t"),
                Message(id="d", task="t", eta=later),
            ]
        )
        == [True] * 5
    )
    assert single.dead_letter(broker, _claim(broker), "bad")  # r1
    _claim(broker)  # r2 in flight
    broker.heartbeat("w1", ["default", "mail"], timedelta(seconds=30))
    broker.heartbeat("w2", ["mail"], timedelta(milliseconds=100))
    broker.heartbeat("w3", ["zz-only-heartbeat"], timedelta(seconds=30))
    stats = broker.queue_stats()
    assert [s.name for s in stats] == ["default", "mail", "zz-only-heartbeat"]
    assert _stats(broker) == (2, 1, 1, 1, 1)
    assert _stats(broker, "mail") == (0, 0, 0, 0, 2)
    time.sleep(0.2)
    assert _stats(broker, "mail") == (0, 0, 0, 0, 1)


def test_get_statuses_answers_as_get_status_for_many_ids(broker: Broker) -> None:
    assert broker.get_statuses([]) == {}
    assert broker.enqueue_once(Message(id="q", task="app.send", attempt=1))
    done = TaskStatus(id="d", task="app.send", state=TaskState.SUCCESS, attempts=1)
    broker.set_status(done)
    ids = ["q", "d", "never-seen"]
    assert broker.get_statuses(ids) == {i: broker.get_status(i) for i in ids}
    assert broker.get_statuses(ids)["q"].state is TaskState.QUEUED  # type: ignore[union-attr]


def test_statuses_queued_then_recorded_final_ones_expire(broker: Broker) -> None:
    assert broker.get_status("never-seen") is None
    assert broker.enqueue_once(Message(id="job", task="app.send", attempt=2))
    queued = broker.get_status("job")
    assert queued is not None
    assert (queued.task, queued.state, queued.attempts) == ("app.send", TaskState.QUEUED, 2)
    started = datetime(2026, 3, 8, 7, 0, 0, 123000, tzinfo=UTC)
    running = TaskStatus(
        id="job", task="app.send", state=TaskState.STARTED, attempts=3, started_at=started
    )
    broker.set_status(running, ttl=timedelta(milliseconds=100))
    time.sleep(0.2)
    assert broker.get_status("job") == running  # not final: no TTL
    failed = TaskStatus(
        id="job",
        task="app.send",
        state=TaskState.FAILURE,
        attempts=3,
        result={"partial": [1, 2]},
        error="ValueError: boom",
        started_at=started,
        finished_at=started + timedelta(seconds=2),
    )
    broker.set_status(failed, ttl=timedelta(milliseconds=200))
    assert broker.get_status("job") == failed
    # As the worker does: the claim records STARTED, the settlement the final state again,
    # kept its lifetime.
    settle = Settlement(_claim(broker), ACK, failed)
    assert broker.settle_many([settle], result_ttl=timedelta(milliseconds=200)) == [True]
    time.sleep(0.4)
    assert broker.get_status("job") is None
    with pytest.raises(TypeError):
        broker.set_status(
            TaskStatus(id="j2", task="t", state=TaskState.SUCCESS, attempts=1, result=object())
        )
    assert broker.get_status("j2") is None


def test_a_later_state_replaces_the_earlier_one_entirely(broker: Broker) -> None:
    broker.set_status(
        TaskStatus(id="j", task="t", state=TaskState.RETRY, attempts=1, error="timeout")
    )
    done = TaskStatus(id="j", task="t", state=TaskState.SUCCESS, attempts=2, result=42)
    broker.set_status(done)
    assert broker.get_status("j") == done  # the old error is gone


def test_unreachable_broker_raises_broker_unavailable(kind: str, tmp_path: Path) -> None:
    if kind == "redis":
        dead = open_broker("redis://:secret@127.0.0.1:1/0")
        with pytest.raises(BrokerUnavailable) as info:
            dead.ping()
        with pytest.raises(BrokerUnavailable):
            dead.enqueue_once(Message(id="a", task="t"))
        dead.close()
    else:
        with pytest.raises(BrokerUnavailable) as info:
            open_broker(f"sqlite:///{tmp_path}/missing/dir/queue.db").ping()
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_burst_rendered_with_templates_is_enqueued_as_encoded(broker: Broker) -> None:
    """Beat's fast path: payloads from MessageTemplate.render_json, pushed with
    enqueue_encoded, arrive byte for byte as Message.encode() of the same messages."""
    now = datetime.now(UTC)
    scheduled = now.replace(microsecond=0)
    later = now + timedelta(hours=1)
    bases = [
        Message(id="base", task="app.report", queue="default", args=(k,), priority=k % 10)
        for k in range(20)
    ]
    literals = {t: json_instant(t) for t in (now, scheduled, later)}
    items = []
    expected = {}
    for k, base in enumerate(bases):
        message_id = fire_id(f"entry-{k}", scheduled)
        eta = later if k == 0 else None
        payload = MessageTemplate(base).render_json(
            message_id,
            enqueued_at=literals[now],
            scheduled_for=literals[scheduled],
            eta="null" if eta is None else literals[later],
        )
        plain = replace(
            base,
            id=message_id,
            eta=eta,
            headers=Headers(enqueued_at=now, entry=base.headers.entry, scheduled_for=scheduled),
        )
        assert payload == plain.encode()
        expected[message_id] = payload
        items.append(EncodedMessage(message_id, base.queue, base.priority, eta, payload, base.task))
    assert broker.enqueue_encoded(items) == [True] * 20
    assert broker.enqueue_encoded(items[::-1]) == [False] * 20
    assert _stats(broker) == (19, 1, 0, 0, 0)  # entry-0 waits for its eta
    got = []
    while (d := single.claim(broker, ["default"], "c", LEASE, NO_WAIT)) is not None:
        assert d.payload == expected[d.message_id]
        got.append(Message.decode(d.payload).priority)
    assert got == sorted(got, reverse=True) and len(got) == 19
    status = broker.get_status(fire_id("entry-3", scheduled))
    assert status is not None and status.task == "app.report"


def test_deliveries_count_claims_of_one_attempt_apart_from_retries(broker: Broker) -> None:
    from taskqueue.records import REDELIVER, RetryAction, Settlement

    message = Message(id="d", task="t")
    assert broker.enqueue_once(message)
    [first] = broker.claim_many(["default"], "c", LEASE, NO_WAIT, 1)
    assert first.deliveries == 1
    assert broker.settle_many([Settlement(first, REDELIVER, None)]) == [True]
    [second] = broker.claim_many(["default"], "c", LEASE, NO_WAIT, 1)
    assert second.deliveries == 2  # the redelivery kept the count
    assert broker.release(second)  # a shutdown's release does not count
    [third] = broker.claim_many(["default"], "c", LEASE, NO_WAIT, 1)
    assert third.deliveries == 2
    retry = RetryAction(message.next_attempt(), datetime.now(UTC))
    assert broker.settle_many([Settlement(third, retry, None)]) == [True]
    [fourth] = broker.claim_many(["default"], "c", LEASE, NO_WAIT, 1)
    assert fourth.deliveries == 1  # a new attempt counts from one
    status = broker.get_status("d")
    assert status is not None and (status.attempts, status.deliveries) == (2, 1)
