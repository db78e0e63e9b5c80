"""Redis promotion, step by step (1,000 messages per step in _lib.lua's promote): a step is
removed from the delayed set by rank, so only due messages may be in it; each keeps its
priority, and what is not due stays delayed, also past a step's edge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from taskqueue.records import EncodedMessage
from taskqueue.redis import RedisBroker
from tests.taskqueue import single

LEASE = timedelta(seconds=30)


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(redis_url)
    yield broker
    broker.close()


def _stats(broker: RedisBroker) -> tuple[int, int]:
    [s] = [s for s in broker.queue_stats() if s.name == "q"]
    return s.ready, s.delayed


def test_promotion_moves_only_due_messages_across_steps_with_their_priority(
    broker: RedisBroker,
) -> None:
    now = datetime.now(UTC)
    due = [
        # 1,500 due (two steps), etas 1 ms apart in reverse push order, three priorities.
        EncodedMessage(f"d{i}", "q", i % 3, now + timedelta(seconds=2, milliseconds=-i), b"{}", "t")
        for i in range(1_500)
    ]
    later = [
        EncodedMessage(f"l{i}", "q", 9, now + timedelta(hours=1), b"{}", "t") for i in range(700)
    ]
    assert all(broker.enqueue_encoded(later + due))
    if datetime.now(UTC) >= now + timedelta(seconds=0.5):
        pytest.skip("the machine was too slow to push ahead of the etas")
    assert _stats(broker) == (0, 2_200)
    time.sleep(max(0.0, (now + timedelta(seconds=2.5) - datetime.now(UTC)).total_seconds()))
    done = broker.promote_due("q")
    assert done.moved == 1_500 and _stats(broker) == (1_500, 700)
    assert done.next_due_in is not None and done.next_due_in > timedelta(minutes=59)
    order = []
    while (d := single.claim(broker, ["q"], "c", LEASE, timedelta(0))) is not None:
        order.append(d.message_id)
    # Highest priority first. (Within a priority the order is the delayed set's, by each
    # message's due time: its delay counted from when its chunk was packed, so not exactly
    # the eta order across chunks.)
    groups = [order[:500], order[500:1_000], order[1_000:]]
    assert [{int(i[1:]) % 3 for i in group} for group in groups] == [{2}, {1}, {0}]
    assert sorted(order) == sorted(m.id for m in due)
    assert _stats(broker) == (0, 700)
