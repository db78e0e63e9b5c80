"""beat.promotions: when beat promotes the fires it pushed ahead (pure: ``now`` is given)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from beat.promotions import FOLLOW_UP, GRID, Promotions, on_grid
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


def test_a_tail_due_just_after_is_looked_at_again_until_a_second_past_the_instant() -> None:
    # The push's own lag can make a message due a few ms after its instant.
    promotions = Promotions()
    promotions.expect([_item(0, "a", T)])
    now = T
    while now + 200 * MS <= T + FOLLOW_UP:
        promotions.run_due(now, lambda q: Promoted(5, 200 * MS))
        assert promotions.next_at() == now + 200 * MS
        now += 200 * MS
    promotions.run_due(now, lambda q: Promoted(5, 200 * MS))
    assert promotions.next_at() is None  # past FOLLOW_UP: workers' claims take over
    promotions.expect([_item(0, "a", T + timedelta(seconds=5))])
    promotions.run_due(T + timedelta(seconds=5), lambda q: Promoted(5, timedelta(seconds=30)))
    assert promotions.next_at() is None  # the next eta is far off: not beat's to chase


def test_batches_each_due_a_little_later_are_all_promoted() -> None:
    # Under load each batch of a burst lands with its own lag, so each comes due at its own
    # moment after the instant: every one is promoted, however many batches there are (a
    # fixed number of looks left the last batches to workers' claims).
    batches = {T + (15 * k + 3) * MS: 1000 for k in range(8)}  # due -> messages
    promotions = Promotions()
    promotions.expect([_item(0, "a", T)])
    now = T

    def promote(queue: str) -> Promoted:
        moved = sum(batches.pop(due) for due in [d for d in batches if d <= now])
        return Promoted(moved, min(batches) - now if batches else None)

    while (at := promotions.next_at()) is not None:
        now = at
        promotions.run_due(now, promote)
    assert batches == {}
    assert now <= T + 200 * MS


def test_a_message_due_now_but_not_moved_is_looked_at_on_the_next_grid_step() -> None:
    # A remainder of 0 ms (rounded) must not make beat call again at once, in a loop.
    promotions = Promotions()
    promotions.expect([_item(0, "a", T)])
    promotions.run_due(T, lambda q: Promoted(0, timedelta(0)))
    assert promotions.next_at() == T + GRID


def test_a_failed_promotion_is_logged_and_left_to_workers(caplog: pytest.LogCaptureFixture) -> None:
    promotions = Promotions()
    promotions.expect([_item(0, "mail", T)])

    def down(queue: str) -> Promoted:
        raise BrokerUnavailable("redis://x", "connection refused")

    with caplog.at_level(logging.WARNING):
        assert promotions.run_due(T, down) == 0
    assert "queue mail: cannot promote" in caplog.text and "connection refused" in caplog.text
    assert promotions.next_at() is None
