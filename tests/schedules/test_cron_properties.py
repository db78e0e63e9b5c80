"""Properties of cron schedules across zones, checked against a brute-force reference.

The reference walks real instants minute by minute and applies SPEC 5 literally; it shares
only the field sets with the implementation, not the search or the DST handling.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beat.time.cron_dst import GAP, _next_cron_slow, classify, next_cron
from beat.time.cron_match import _month_days
from beat.time.schedules import Cron

ZONES = [
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Europe/London",
    "Asia/Kolkata",
    "UTC",
]
# Instants near 2026's changes in those zones, so examples cluster around the edges.
EDGES = [
    datetime.fromisoformat(s)
    for s in (
        "2026-03-08T07:00:00+00:00",
        "2026-11-01T06:00:00+00:00",
        "2026-10-03T15:30:00+00:00",
        "2026-04-04T15:00:00+00:00",
        "2026-09-06T04:00:00+00:00",
        "2026-04-05T03:00:00+00:00",
        "2026-09-26T14:00:00+00:00",
        "2026-04-04T14:00:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-10-25T01:00:00+00:00",
    )
]
MINUTES = ["*", "*/15", "0", "30", "0,30", "5-10", "45", "*/7", "59"]
HOURS = ["*", "0", "1", "2", "1-3", "*/3", "23", "0,12", "3"]
DOMS = ["*", "*", "1", "15", "L", "*/2", "4-6"]
DOWS = ["*", "*", "0", "1-5", "5L", "6#1"]

expressions = st.builds(
    lambda mi, h, dom, dow: f"{mi} {h} {dom} * {dow}",
    st.sampled_from(MINUTES),
    st.sampled_from(HOURS),
    st.sampled_from(DOMS),
    st.sampled_from(DOWS),
)
instants = st.builds(
    lambda edge, delta: edge + timedelta(seconds=delta),
    st.sampled_from(EDGES),
    st.integers(-4 * 3600, 4 * 3600),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)


def local_matches(schedule: Cron, wall: datetime) -> bool:
    spec = schedule._matcher.spec
    return (
        wall.minute in spec.minutes
        and wall.hour in spec.hours
        and wall.month in spec.months
        and wall.day in _month_days(spec, wall.year, wall.month)
    )


def reference_next(schedule: Cron, after: datetime, horizon: timedelta) -> datetime | None:
    """SPEC 5 literally: walk real minutes; fire where the local minute matches (wildcard: any
    pass; fixed-time: first pass only), and at a forward change whose gap held a match."""
    zone = schedule.zone
    t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = after + horizon
    while t <= end:
        local = t.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if not schedule.is_wildcard:
            before = (t - timedelta(minutes=1)).astimezone(zone)
            jump = local.utcoffset() - before.utcoffset()  # type: ignore[operator]
            if jump > timedelta(0):
                gap = wall - jump
                while gap < wall:
                    if local_matches(schedule, gap):
                        return t
                    gap += timedelta(minutes=1)
        if local_matches(schedule, wall):
            second_pass = local.fold == 1 and classify(wall, zone)[0] != 0
            if schedule.is_wildcard or not second_pass:
                return t
        t += timedelta(minutes=1)
    return None


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, zones, instants)
def test_matches_brute_force_reference(expr: str, zone: ZoneInfo, after: datetime) -> None:
    schedule = Cron(expr, zone)
    horizon = timedelta(days=2)
    got = schedule.next_after(after)
    want = reference_next(schedule, after, horizon)
    if want is None:
        assert got is None or got > after + horizon
    else:
        assert got == want, (expr, zone.key, after.isoformat())


@settings(max_examples=300, deadline=None)
@given(expressions, zones, instants)
def test_fast_path_agrees_with_full_search(expr: str, zone: ZoneInfo, after: datetime) -> None:
    schedule = Cron(expr, zone)
    matcher, wildcard = schedule._matcher, schedule.is_wildcard
    after = after.astimezone(UTC)
    slow = _next_cron_slow(matcher, zone, wildcard, after, after.astimezone(zone))
    assert next_cron(matcher, zone, wildcard, after) == slow


@settings(max_examples=150, deadline=None)
@given(expressions, zones, instants)
def test_fires_increase_exist_and_fixed_time_fires_once_per_local_minute(
    expr: str, zone: ZoneInfo, after: datetime
) -> None:
    schedule = Cron(expr, zone)
    fires = list(islice(schedule.iter_after(after), 30))
    assert fires, expr
    assert fires[0] > after
    assert all(a < b for a, b in pairwise(fires))
    for fire in fires:
        assert fire.tzinfo is UTC
        wall = fire.astimezone(zone).replace(tzinfo=None)
        assert classify(wall, zone)[0] != GAP  # never a local time that does not exist
    if not schedule.is_wildcard:
        walls = [f.astimezone(zone).replace(tzinfo=None, fold=0) for f in fires]
        assert len(set(walls)) == len(walls)


def test_far_behind_and_far_ahead_agree_with_stepwise() -> None:
    # Asking from a year earlier must land on the same fire as stepping to it.
    schedule = Cron("30 2 8 3 *", ZoneInfo("America/New_York"))
    fire = schedule.next_after(datetime(2025, 6, 1, tzinfo=UTC))
    assert fire is not None and fire.isoformat() == "2026-03-08T07:00:00+00:00"


STANDARD_MINUTES = ["*", "*/7", "0", "5-20/5", "1,2,3", "59"]
STANDARD_HOURS = ["*", "0-5", "*/6", "12", "9-17"]
STANDARD_DOMS = ["*", "1", "13", "1-10", "28-31"]
STANDARD_MONTHS = ["*", "2", "1-6", "*/3", "dec"]
STANDARD_DOWS = ["*", "0", "1-5", "6", "fri"]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(STANDARD_MINUTES),
    st.sampled_from(STANDARD_HOURS),
    st.sampled_from(STANDARD_DOMS),
    st.sampled_from(STANDARD_MONTHS),
    st.sampled_from(STANDARD_DOWS),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
)
def test_plain_expressions_agree_with_croniter_in_utc(
    mi: str, h: str, dom: str, mon: str, dow: str, start: datetime
) -> None:
    # croniter 7.0.0 is right for these forms in UTC (no single-value ranges, no step in a
    # day field, no DST): it is the oracle for our parser and search.
    expr = f"{mi} {h} {dom} {mon} {dow}"
    after = start.replace(tzinfo=UTC)
    ours = [f for f in islice(Cron(expr, ZoneInfo("UTC")).iter_after(after), 5)]
    it = croniter(expr, after)
    theirs = [it.get_next(datetime) for _ in range(5)]
    assert ours == theirs, expr
