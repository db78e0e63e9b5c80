"""How early a burst is pushed (beat.early_push): its lead, and which instants a tick pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beat.due_index import DueIndex
from beat.early_push import ASSUMED_RATE, LOOK, MAX_LEAD, EarlyPush

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
LOOKAHEAD = 3 * S


def _index(buckets: dict[datetime, int]) -> DueIndex:
    index = DueIndex()
    for when, n in buckets.items():
        for i in range(n):
            index.push(f"{when.timestamp()}-{i}", when)
    return index


def test_the_lead_is_the_lookahead_until_a_burst_needs_longer() -> None:
    early = EarlyPush(LOOKAHEAD)
    assert early.lead(1) == LOOKAHEAD
    assert early.lead(100_000) == LOOKAHEAD  # 2.5 s of push at 80,000/s, doubled
    assert early.lead(1_000_000) == 25 * S
    assert early.lead(10_000_000) == MAX_LEAD
    assert EarlyPush(timedelta(0)).lead(1_000_000) == timedelta(0)  # lookahead 0: never ahead


def test_the_rate_follows_large_pushes_never_above_the_assumed_one() -> None:
    early = EarlyPush(LOOKAHEAD)
    early.measured(5_000, 1.0)  # too small to tell
    assert early.rate == ASSUMED_RATE
    early.measured(100_000, 5.0)  # a loaded machine: 20,000/s
    assert early.rate == 20_000
    assert early.lead(100_000) == 10 * S
    early.measured(1_000_000, 5.0)
    assert early.rate == ASSUMED_RATE


def test_a_burst_is_pushed_its_lead_ahead_with_the_instants_before_it() -> None:
    early = EarlyPush(LOOKAHEAD)
    early.rate = 1_000.0  # so that 10,000 fires need 20 s
    index = _index({T - 15 * S: 5, T - 12 * S: 5, T: 9_990, T + 10 * S: 3})
    now = T - 40 * S  # not yet: even all 10,003 at the first instant would start later
    assert early.plan(index, now) == (now + LOOKAHEAD, T - 15 * S - early.lead(10_003))
    now = T - 30 * S
    assert early.plan(index, now) == (now + LOOKAHEAD, T - 20 * S)
    now = T - 20 * S  # every fire up to T is 10,000: due to start
    horizon, wake = early.plan(index, now)
    assert horizon == T
    assert wake == T - early.lead(10_000)
    popped = [when for _, when in index.pop_due(horizon)]
    assert popped == [T - 15 * S] * 5 + [T - 12 * S] * 5 + [T] * 9_990
    assert early.plan(index, now) == (now + LOOKAHEAD, T + 7 * S)  # 3 fires: the lookahead


def test_without_a_lookahead_nothing_is_pushed_ahead() -> None:
    early = EarlyPush(timedelta(0))
    index = _index({T: 1_000})
    assert early.plan(index, T - S) == (T - S, T)


def test_a_burst_beyond_the_instants_looked_at_is_looked_at_again() -> None:
    early = EarlyPush(LOOKAHEAD)
    early.rate = 1_000.0
    small = {T - (LOOK - i) * S: 1 for i in range(LOOK)}
    index = _index({**small, T + 60 * S: 10_000})
    now = T - 30 * S
    _horizon, wake = early.plan(index, now)
    # The burst is the 17th instant: not seen, but it may need up to lead(all) before it.
    assert wake == T - S - early.lead(len(index))


def test_upcoming_lists_the_first_instants_in_order_with_their_live_entries() -> None:
    index = DueIndex()
    for i, minute in enumerate([5, 1, 3, 2, 4, 1, 6]):
        index.push(f"e{i}", T + timedelta(minutes=minute))
    index.remove("e3")  # T + 2m has no entry left
    index.push("e4", T + timedelta(minutes=1))  # moved: T + 4m has none left either
    assert index.upcoming(3) == [
        (T + timedelta(minutes=1), 3),
        (T + timedelta(minutes=3), 1),
        (T + timedelta(minutes=5), 1),
    ]
    assert [when for when, _ in index.upcoming(100)] == [
        T + timedelta(minutes=m) for m in (1, 3, 5, 6)
    ]
    assert DueIndex().upcoming(3) == []
