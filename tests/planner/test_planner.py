"""The pure planner: tables of instants for each rule, and Hypothesis properties.

Intervals are planned arithmetically; every other schedule is walked. ``Stepped`` below is a
test-local schedule with an interval's fires but not an ``Interval``, so the walking path can be
checked against the arithmetic one on the same instants.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from beat.entries import CATCH_UP_ALL_LIMIT, CatchUp, Entry, Schedule
from beat.planner import (
    WALK_LIMIT,
    Fire,
    Plan,
    first_state,
    next_pending,
    plan_entry,
    plan_round,
)
from beat.state import EntryState
from beat.time.schedules import Cron, Interval, Once, Walked
from taskqueue.message import fire_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Stepped(Walked):
    """``start + k * every`` like an Interval, but planned by walking (not an Interval)."""

    every: timedelta
    start: datetime
    zone: ZoneInfo = UTC_ZONE

    def next_after(self, after: datetime) -> datetime | None:
        if after < self.start:
            return self.start
        return self.start + ((after - self.start) // self.every + 1) * self.every

    def describe(self) -> str:
        return f"stepped {self.every}"


def entry(
    schedule: Schedule | Interval | Cron | Once | Stepped,
    catch_up: str = "latest",
    grace: timedelta = timedelta(seconds=5),
    name: str = "job",
) -> Entry:
    return Entry(
        name=name,
        task="noop",
        schedule=schedule,  # type: ignore[arg-type]
        catch_up=CatchUp(catch_up),
        grace=grace,
    )


def every(seconds: float, start: datetime | None = T0) -> Interval:
    return Interval(timedelta(seconds=seconds), start, UTC_ZONE)


def fired(plan: Plan) -> list[float]:
    return [(f.scheduled_for - T0).total_seconds() for f in plan.fires]


def st_at(last_fire: datetime | None, first_seen: datetime = T0, **kw: object) -> EntryState:
    return EntryState("job", last_fire, first_seen, "h", **kw)  # type: ignore[arg-type]


# --- first_state / next_pending --------------------------------------------------------------


def test_new_entry_first_fire_is_the_next_scheduled_instant_never_now() -> None:
    e = entry(every(10, start=None))
    state = first_state(e, s(3), None)
    assert state == EntryState("job", None, s(3), e.content_hash())
    assert next_pending(e, state) == s(13)  # anchored at first seen
    assert plan_entry(e, state, s(3)) == Plan((), (), s(13))
    cron = entry(Cron("*/15 * * * *", UTC_ZONE))
    cstate = first_state(cron, s(15 * 60), None)  # seen exactly on a matching minute
    assert next_pending(cron, cstate) == s(30 * 60)


def test_new_entry_with_a_past_start_keeps_its_phase_but_does_not_replay() -> None:
    e = entry(every(60, start=T0 - timedelta(days=30)))
    state = first_state(e, s(61.5), None)
    assert next_pending(e, state) == s(120)


def test_one_off_in_the_past_never_fires_and_one_in_the_future_fires_once() -> None:
    past = entry(Once(s(10), UTC_ZONE))
    assert next_pending(past, first_state(past, s(11), None)) is None
    future = entry(Once(s(10), UTC_ZONE))
    state = first_state(future, s(9), None)
    plan = plan_entry(future, state, s(10))
    assert fired(plan) == [10] and plan.next_fire is None
    assert next_pending(future, replace(state, last_fire=s(10))) is None


def test_restart_with_same_content_keeps_state_and_phase() -> None:
    e = entry(every(10, start=None))
    previous = EntryState("job", s(13), s(3), e.content_hash(), s(13.001))
    assert first_state(e, s(17), previous) is previous
    assert next_pending(e, previous) == s(23)
    assert fired(plan_entry(e, previous, s(23))) == [23]


def test_edit_is_a_boundary_no_replay_no_immediate_fire() -> None:
    old = entry(every(10), catch_up="all", grace=timedelta(hours=1))
    previous = first_state(old, s(0.5), None)
    previous = replace(previous, last_fire=s(20))
    new = entry(every(5), catch_up="all", grace=timedelta(hours=1))
    edited = first_state(new, s(47), previous)  # edited while 30 and 40 were pending
    assert edited.content_hash == new.content_hash() != previous.content_hash
    assert edited.first_seen == previous.first_seen and edited.last_fire == s(20)
    assert edited.edited_at == s(47)
    assert next_pending(new, edited) == s(50)
    assert fired(plan_entry(new, edited, s(49))) == []
    assert fired(plan_entry(new, edited, s(56))) == [50, 55]
    # once fired past the edit, the last fire is the boundary again
    later = replace(edited, last_fire=s(55))
    assert next_pending(new, later) == s(60)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        first_state(entry(every(1)), datetime(2026, 1, 1), None)


# --- catch-up policies ------------------------------------------------------------------------

# every 10s from T0, last fire 20, grace 5s (the daemon catch-up test's table, planned purely)
CATCH_UP_TABLE = [
    # now 63: 60 is 3s late (on time); 30, 40, 50 are missed
    ("all", 63, [30, 40, 50, 60], None),
    ("latest", 63, [60], (3, 30, 50, "catch_up latest")),
    ("none", 63, [60], (3, 30, 50, "catch_up none")),
    # now 68: 60 is 8s late, everything is missed
    ("all", 68, [30, 40, 50, 60], None),
    ("latest", 68, [60], (3, 30, 50, "catch_up latest")),
    ("none", 68, [], (4, 30, 60, "catch_up none")),
    # exactly at the grace boundary (now - f == grace) the fire is on time
    ("none", 65, [60], (3, 30, 50, "catch_up none")),
]


@pytest.mark.parametrize("kind", ["interval", "walked"])
@pytest.mark.parametrize(("policy", "now", "expected", "skip"), CATCH_UP_TABLE)
def test_catch_up_policies(
    kind: str,
    policy: str,
    now: int,
    expected: list[int],
    skip: tuple[int, int, int, str] | None,
) -> None:
    schedule = every(10) if kind == "interval" else Stepped(timedelta(seconds=10), T0)
    e = entry(schedule, policy)
    plan = plan_entry(e, st_at(s(20)), s(now))
    assert fired(plan) == expected
    assert plan.next_fire == s(70)
    if skip is None:
        assert plan.skipped == ()
    else:
        (sk,) = plan.skipped
        assert (sk.count, sk.first, sk.last, sk.reason, sk.exact) == (
            skip[0],
            s(skip[1]),
            s(skip[2]),
            skip[3],
            True,
        )


@pytest.mark.parametrize("kind", ["interval", "walked"])
def test_catch_up_all_is_capped_at_100(kind: str) -> None:
    schedule = every(10) if kind == "interval" else Stepped(timedelta(seconds=10), T0)
    plan = plan_entry(entry(schedule, "all"), st_at(s(20)), s(2018))
    # 30..2010 are missed (199): the 100 most recent are sent, 99 skipped
    assert fired(plan) == list(range(1020, 2011, 10))
    (sk,) = plan.skipped
    assert (sk.count, sk.first, sk.last) == (99, s(30), s(1010))
    assert sk.reason == f"catch_up all is capped at {CATCH_UP_ALL_LIMIT}"
    assert plan.next_fire == s(2020)


def test_fire_ids_are_deterministic() -> None:
    plan = plan_entry(entry(every(10)), st_at(s(20)), s(30))
    assert plan.fires == (Fire("job", s(30), fire_id("job", s(30))),)
    assert plan.fires[0].id == f"job@{int(s(30).timestamp() * 1000)}"


def test_a_month_down_at_every_second_is_cheap_and_exact() -> None:
    e = entry(every(1), "latest", grace=timedelta(seconds=5))
    month = 30 * 24 * 3600
    started = time.perf_counter()
    plan = plan_entry(e, st_at(s(0)), s(month + 0.5))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05
    # cutoff = now - grace = month - 4.5 s: only the 5 on-time fires are sent
    assert fired(plan) == [month - 4 + i for i in range(5)]
    (sk,) = plan.skipped
    assert (sk.count, sk.first, sk.last, sk.exact) == (month - 5, s(1), s(month - 5), True)


def test_cron_down_for_a_month_walks_a_bounded_number_of_fires() -> None:
    e = entry(Cron("* * * * *", UTC_ZONE), "latest", grace=timedelta(seconds=30))
    now = s(30 * 24 * 3600 + 45)  # 45 s after a minute: that minute is missed too
    started = time.perf_counter()
    plan = plan_entry(e, st_at(s(0)), now)
    elapsed = time.perf_counter() - started
    assert fired(plan) == [30 * 24 * 3600]  # only the most recent missed fire
    (sk,) = plan.skipped
    assert sk.first == s(60) and sk.last == s(30 * 24 * 3600 - 60)
    assert not sk.exact and WALK_LIMIT < sk.count < 30 * 24 * 60
    assert "at least" in sk.reason
    assert plan.next_fire == s(30 * 24 * 3600 + 60)
    print(f"\ncron every minute, 30 days down: planned in {elapsed * 1000:.1f} ms")
    assert elapsed < 2


@pytest.mark.parametrize("policy", ["all", "latest", "none"])
@pytest.mark.parametrize("extra", [1, 2, 150])
def test_walk_just_beyond_the_limit_is_still_exact(policy: str, extra: int) -> None:
    """WALK_LIMIT + extra missed fires: the probe back from the cutoff reaches the walked part
    (few fires past the limit), so the count stays exact and matches the arithmetic plan."""
    missed = WALK_LIMIT + extra
    state = st_at(s(0))
    now = s(missed + 0.7)  # cutoff = now - 0.5 s: fires 1..missed are missed, none on time
    walked = plan_entry(
        entry(Stepped(timedelta(seconds=1), T0), policy, timedelta(seconds=0.5)), state, now
    )
    exact = plan_entry(entry(every(1), policy, timedelta(seconds=0.5)), state, now)
    assert walked == exact
    assert sum(sk.count for sk in walked.skipped) + len(walked.fires) == missed


# --- properties -----------------------------------------------------------------------------


class _NextAfter(Protocol):
    def next_after(self, after: datetime) -> datetime | None: ...


def _instants(schedule: _NextAfter, after: datetime, until: datetime) -> Iterator[datetime]:
    t = schedule.next_after(after)
    while t is not None and t <= until:
        yield t
        t = schedule.next_after(t)


plans = st.fixed_dictionaries(
    {
        "every_ms": st.integers(min_value=1, max_value=600_000),
        "start_ms": st.integers(min_value=-10_000_000, max_value=10_000_000),
        "last_ms": st.none() | st.integers(min_value=-10_000_000, max_value=10_000_000),
        "seen_ms": st.integers(min_value=-10_000_000, max_value=10_000_000),
        "edited_ms": st.none() | st.integers(min_value=-10_000_000, max_value=10_000_000),
        "ahead_ms": st.integers(min_value=0, max_value=60_000_000),
        "grace_ms": st.integers(min_value=0, max_value=3_000_000),
        "policy": st.sampled_from(["all", "latest", "none"]),
        "anchored": st.booleans(),
    }
)


def _case(p: dict[str, Any]) -> tuple[Entry, EntryState, datetime, Interval]:
    # keep the enumeration in the checks small (the planner itself would not mind)
    assume(p["ahead_ms"] // p["every_ms"] <= 20_000)
    ms = timedelta(milliseconds=1)
    start = T0 + p["start_ms"] * ms
    interval = Interval(p["every_ms"] * ms, start if p["anchored"] else None, UTC_ZONE)
    e = entry(interval, str(p["policy"]), grace=p["grace_ms"] * ms)
    state = EntryState(
        "job",
        None if p["last_ms"] is None else T0 + p["last_ms"] * ms,
        T0 + p["seen_ms"] * ms,
        "h",
        edited_at=None if p["edited_ms"] is None else T0 + p["edited_ms"] * ms,
    )
    boundary = max(
        x for x in (state.last_fire or state.first_seen, state.edited_at) if x is not None
    )
    now = boundary + p["ahead_ms"] * ms
    return e, state, now, interval.anchored(state.first_seen)


@settings(max_examples=400, deadline=None)
@given(plans)
def test_every_pending_instant_is_sent_or_skipped_exactly_once(p: dict[str, Any]) -> None:
    e, state, now, schedule = _case(p)
    boundary = max(
        x for x in (state.last_fire or state.first_seen, state.edited_at) if x is not None
    )
    pending = list(_instants(schedule, boundary, now))
    plan = plan_entry(e, state, now)
    sent = [f.scheduled_for for f in plan.fires]
    assert sent == sorted(set(sent)), "fires strictly increasing"
    assert all(f.id == fire_id("job", f.scheduled_for) for f in plan.fires)
    assert set(sent) <= set(pending)
    skipped = sum(sk.count for sk in plan.skipped)
    assert len(sent) + skipped == len(pending)
    for sk in plan.skipped:
        assert sk.exact
        assert sk.first == pending[0]
        assert not any(sk.first <= f <= sk.last for f in sent)
        assert len([x for x in pending if sk.first <= x <= sk.last]) == sk.count
    # sent: every on-time fire, plus what the policy allows of the missed ones
    on_time = [f for f in pending if now - f <= e.grace]
    assert sent[len(sent) - len(on_time) :] == on_time
    missed_sent = len(sent) - len(on_time)
    n_missed = len(pending) - len(on_time)
    if e.catch_up is CatchUp.ALL:
        assert missed_sent == min(n_missed, CATCH_UP_ALL_LIMIT)
    elif e.catch_up is CatchUp.LATEST:
        assert missed_sent == (1 if n_missed and not on_time else 0)
    else:
        assert missed_sent == 0
    assert plan.next_fire == schedule.next_after(max(now, boundary))
    assert next_pending(e, state) == schedule.next_after(boundary)


@settings(max_examples=300, deadline=None)
@given(plans)
def test_walking_agrees_with_interval_arithmetic(p: dict[str, Any]) -> None:
    e, state, now, schedule = _case(p)
    assert schedule.start is not None
    walked = e.replace(schedule=Stepped(schedule.every, schedule.start))
    arithmetic = plan_entry(e, state, now)
    walk = plan_entry(walked, state, now)
    assert walk.fires == arithmetic.fires
    assert walk.next_fire == arithmetic.next_fire
    assert sum(sk.count for sk in walk.skipped) <= sum(sk.count for sk in arithmetic.skipped)
    if all(sk.exact for sk in walk.skipped):
        assert walk.skipped == arithmetic.skipped
    assert next_pending(walked, state) == next_pending(e, state)


@settings(max_examples=200, deadline=None)
@given(plans)
def test_planning_again_after_applying_a_plan_sends_nothing_new(p: dict[str, Any]) -> None:
    e, state, now, _ = _case(p)
    plan = plan_entry(e, state, now)
    disposed = [f.scheduled_for for f in plan.fires] + [sk.last for sk in plan.skipped]
    if disposed:
        state = replace(state, last_fire=max(disposed))
    again = plan_entry(e, state, now)
    assert again.fires == () and again.skipped == ()
    assert again.next_fire == plan.next_fire
    assert next_pending(e, state) == plan.next_fire


# --- speed ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_100k_entries_with_one_due_fire_each_timing() -> None:
    n = 100_000
    entries = [entry(every(60), name=f"e{i}") for i in range(n)]
    states = [EntryState(f"e{i}", s(0), T0, "h") for i in range(n)]
    now = s(60.2)
    started = time.perf_counter()
    total = 0
    for e, state in zip(entries, states, strict=True):
        nxt = next_pending(e, state)
        plan = plan_entry(e, state, now)
        total += len(plan.fires)
        assert nxt is not None
    interval_s = time.perf_counter() - started
    assert total == n
    crons = [entry(Cron("* * * * *", UTC_ZONE), name=f"c{i}") for i in range(n)]
    started = time.perf_counter()
    for e, state in zip(crons, states, strict=True):
        next_pending(e, state)
        plan_entry(e, state, now)
    cron_s = time.perf_counter() - started
    print(
        f"\nplanner, 100k entries x (next_pending + plan_entry), one due fire each: "
        f"interval {interval_s:.3f} s, cron {cron_s:.3f} s (cron includes next_after)"
    )


# --- real cron schedules, across DST ----------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
CRONS = ["*/7 * * * *", "30 2 * * *", "0 * * * *", "*/20 1 * * *", "15 9 * * 1-5", "0 0 1 * *"]


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(CRONS),
    # around the 2026 transitions: 2026-03-08 07:00Z (spring forward), 2026-11-01 06:00Z (back)
    base=st.sampled_from(
        [datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC)]
    ),
    last_min=st.integers(min_value=0, max_value=24 * 60),
    ahead_min=st.integers(min_value=0, max_value=3 * 24 * 60),
    grace_min=st.integers(min_value=0, max_value=180),
    policy=st.sampled_from(["all", "latest", "none"]),
)
def test_cron_pending_fires_are_sent_or_skipped_exactly_once(
    expr: str, base: datetime, last_min: int, ahead_min: int, grace_min: int, policy: str
) -> None:
    cron = Cron(expr, NEW_YORK)
    e = entry(cron, policy, grace=timedelta(minutes=grace_min))
    last = base + timedelta(minutes=last_min)
    now = last + timedelta(minutes=ahead_min, seconds=30)
    state = st_at(last, first_seen=base)
    pending = list(_instants(cron, last, now))
    plan = plan_entry(e, state, now)
    sent = [f.scheduled_for for f in plan.fires]
    assert sent == sorted(set(sent)) and set(sent) <= set(pending)
    assert len(sent) + sum(sk.count for sk in plan.skipped) == len(pending)
    assert all(sk.exact for sk in plan.skipped)  # a few days of these crons is under the walk limit
    assert plan.next_fire == cron.next_after(max([now, *pending]))
    assert next_pending(e, state) == cron.next_after(last)


# --- plan_round: late entries are judged at now ------------------------------------------


def test_plan_round_judges_a_late_entry_at_now_not_at_the_lookahead() -> None:
    """SPEC 6: a pending fire is on time if ``now - f <= grace``. An entry late past its grace
    is planned at now: with grace 2 s and the tick at 10 s, 8 s .. 10 s are on time even
    though a 3 s lookahead would put them past their grace of 13 s."""
    e = entry(every(1), catch_up="none", grace=timedelta(seconds=2))
    state = st_at(s(1))
    plan = plan_round([("job", s(2))], {"job": e}, {"job": state}, s(10))
    assert fired(plan) == [8, 9, 10]
    assert [(x.first, x.last, x.count) for x in plan.skipped] == [(s(2), s(7), 6)]
    assert plan.advanced == {"job": s(10)}
    assert plan.next_fires == {"job": s(11)}  # back through the index, up to the horizon
