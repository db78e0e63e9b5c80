"""beat.promotions: when beat promotes the fires it pushed ahead (pure: ``now`` is given)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from beat.promotions import Promotions, on_grid
from taskqueue.errors import BrokerUnavailable
from taskqueue.records import EncodedMessage, Promoted

T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def _item(i: int, queue: str, eta: datetime | None) -> EncodedMessage:
    return EncodedMessage(f"m{i}", queue, 0, eta, b"{}", "t")


def test_one_call_per_queue_and_instant_and_none_for_ready_pushes() -> None:
    promotions = Promotions()
    promotions.expect([_item(i, "a", T) for i in range(1000)] + [_item(1, "b", T)])
    promotions.expect([_item(2, "a", T), _item(3, "c", None)])  # a later batch, same instant
    assert len(promotions) == 2 and promotions.next_at() == T
    calls: list[str] = []

    def promote(queue: str) -> Promoted:
        calls.append(queue)
        return Promoted(1, None)

    assert promotions.run_due(T - MS, promote) == 0 and calls == []
    assert promotions.run_due(T, promote) == 2
    assert sorted(calls) == ["a", "b"] and promotions.next_at() is None


def test_jittered_instants_share_a_call_per_grid_step() -> None:
    assert on_grid(T) == T
    assert on_grid(T + 3 * MS) == T + 10 * MS
    promotions = Promotions()
    promotions.expect([_item(i, "a", T + i * MS) for i in range(1, 10)])
    assert len(promotions) == 1 and promotions.next_at() == T + 10 * MS


def test_a_tail_due_just_after_is_looked_at_again_a_few_times() -> None:
    # The push's own lag can make a message due a few ms after its instant.
    promotions = Promotions()
    promotions.expect([_item(0, "a", T)])
    now = T
    for _ in range(3):
        promotions.run_due(now, lambda q: Promoted(5, 20 * MS))
        assert promotions.next_at() == now + 20 * MS
        now += 20 * MS
    promotions.run_due(now, lambda q: Promoted(5, 20 * MS))
    assert promotions.next_at() is None  # FOLLOW_UPS reached: workers' claims take over
    promotions.expect([_item(0, "a", T + timedelta(seconds=5))])
    promotions.run_due(T + timedelta(seconds=5), lambda q: Promoted(5, timedelta(seconds=30)))
    assert promotions.next_at() is None  # the next eta is far off: not beat's to chase


def test_a_failed_promotion_is_logged_and_left_to_workers(caplog: pytest.LogCaptureFixture) -> None:
    promotions = Promotions()
    promotions.expect([_item(0, "mail", T)])

    def down(queue: str) -> Promoted:
        raise BrokerUnavailable("redis://x", "connection refused")

    with caplog.at_level(logging.WARNING):
        assert promotions.run_due(T, down) == 0
    assert "queue mail: cannot promote" in caplog.text and "connection refused" in caplog.text
    assert promotions.next_at() is None
