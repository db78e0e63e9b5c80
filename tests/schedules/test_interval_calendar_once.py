"""Intervals (real time, phase-anchored), calendar intervals (local dates, fixed-time rule)
and one-offs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from beat.errors import ScheduleError
from beat.time.schedules import Calendar, Interval, Once
from tests.config.test_durations import FORMATTED

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def iso(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [i.astimezone(zone).isoformat() for i in instants]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- Interval -------------------------------------------------------------------------------


def test_interval_keeps_its_phase_from_start() -> None:
    schedule = Interval(timedelta(minutes=90), at("2026-01-01T00:00:00Z"), BERLIN)
    assert schedule.next_after(at("2026-01-01T02:00:00Z")) == at("2026-01-01T03:00:00Z")
    assert schedule.next_after(at("2026-01-01T03:00:00Z")) == at("2026-01-01T04:30:00Z")
    # before the start: the start itself (k = 0)
    assert schedule.next_after(at("2025-12-31T00:00:00Z")) == at("2026-01-01T00:00:00Z")
    # on the start exactly: strictly after, so k = 1
    assert schedule.next_after(at("2026-01-01T00:00:00Z")) == at("2026-01-01T01:30:00Z")


def test_interval_is_real_time_across_dst() -> None:
    schedule = Interval(timedelta(hours=1), at("2026-11-01T04:00:00Z"), NY)
    fires = list(islice(schedule.iter_after(at("2026-11-01T04:30:00Z")), 3))
    assert iso(fires, NY) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_interval_sub_second_phase_is_exact() -> None:
    schedule = Interval(timedelta(milliseconds=500), at("2026-01-01T00:00:00.250000+00:00"), NY)
    assert schedule.next_after(at("2026-01-01T00:00:10.100000+00:00")) == at(
        "2026-01-01T00:00:10.250000+00:00"
    )


def test_anchoring_an_unanchored_interval() -> None:
    schedule = Interval(timedelta(seconds=30), None, NY)
    with pytest.raises(ScheduleError, match=r"^start: interval has no anchor"):
        schedule.next_after(at("2026-01-01T00:00:00Z"))
    first_seen = at("2026-01-01T00:00:07Z")
    anchored = schedule.anchored(first_seen)
    assert anchored.start == first_seen
    assert anchored.next_after(at("2026-01-01T00:01:00Z")) == at("2026-01-01T00:01:07Z")
    # an interval with a start keeps it: first_seen does not move the phase
    fixed = Interval(timedelta(seconds=30), at("2026-01-01T00:00:00Z"), NY)
    assert fixed.anchored(first_seen) is fixed


def test_interval_validation() -> None:
    with pytest.raises(ScheduleError, match=r"^every: must be positive, got 0s$"):
        Interval(timedelta(0), None, NY)
    with pytest.raises(ScheduleError, match=r"^every: must be positive, got -5m$"):
        Interval(timedelta(minutes=-5), None, NY)
    with pytest.raises(ScheduleError, match=r"^start: naive datetime 2026-01-01T00:00:00"):
        Interval(timedelta(seconds=1), datetime(2026, 1, 1), NY)
    with pytest.raises(ScheduleError, match=r"^after: naive"):
        Interval(timedelta(seconds=1), at("2026-01-01T00:00:00Z"), NY).next_after(
            datetime(2026, 1, 1)
        )


@pytest.mark.parametrize(("value", "text"), [(v, t) for v, t in FORMATTED if v > timedelta(0)])
def test_compact_durations(value: timedelta, text: str) -> None:
    """An interval describes itself with the compact duration (format_duration, whose table
    FORMATTED is tested in tests/config/test_durations.py)."""
    assert Interval(value, None, NY).describe() == f"every {text}"


def test_interval_describe_includes_the_start() -> None:
    schedule = Interval(timedelta(seconds=30), at("2026-01-01T00:00:00Z"), NY)
    assert schedule.describe() == "every 30s from 2026-01-01T00:00:00+00:00"


# --- Calendar -------------------------------------------------------------------------------


def test_calendar_every_two_weeks_at_local_time() -> None:
    schedule = Calendar(2, "weeks", time(9, 30), date(2026, 1, 5), BERLIN)
    fires = list(islice(schedule.iter_after(at("2026-01-01T00:00:00Z")), 3))
    assert iso(fires, BERLIN) == [
        "2026-01-05T09:30:00+01:00",
        "2026-01-19T09:30:00+01:00",
        "2026-02-02T09:30:00+01:00",
    ]
    # across the spring change the wall time stays 09:30
    later = list(islice(schedule.iter_after(at("2026-03-20T00:00:00Z")), 2))
    assert iso(later, BERLIN) == ["2026-03-30T09:30:00+02:00", "2026-04-13T09:30:00+02:00"]
    assert schedule.describe() == "every 2 weeks at 09:30 from 2026-01-05"
    assert schedule.anchored(at("2026-06-01T00:00:00Z")) is schedule


def test_calendar_month_end_skips_short_months() -> None:
    schedule = Calendar(1, "months", time(8, 0), date(2026, 1, 31), NY)
    fires = list(islice(schedule.iter_after(at("2026-01-01T00:00:00Z")), 4))
    assert [f.astimezone(NY).date().isoformat() for f in fires] == [
        "2026-01-31",
        "2026-03-31",  # no 31 February: skipped, and March is not shifted
        "2026-05-31",
        "2026-07-31",
    ]
    assert schedule.describe() == "every month at 08:00 from 2026-01-31"


def test_calendar_leap_day_yearly() -> None:
    schedule = Calendar(1, "years", time(12, 0), date(2024, 2, 29), UTC_ZONE)
    fires = list(islice(schedule.iter_after(at("2024-03-01T00:00:00Z")), 2))
    assert [f.date().isoformat() for f in fires] == ["2028-02-29", "2032-02-29"]


def test_calendar_daily_at_in_gap_and_fold() -> None:
    gap = Calendar(1, "days", time(2, 30), date(2026, 3, 1), NY)
    fires = list(islice(gap.iter_after(at("2026-03-07T12:00:00-05:00")), 3))
    assert iso(fires, NY) == [
        "2026-03-08T03:00:00-04:00",  # 02:30 does not exist: at the change
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]
    fold = Calendar(1, "days", time(1, 30), date(2026, 10, 1), NY)
    fires = list(islice(fold.iter_after(at("2026-10-31T12:00:00-04:00")), 2))
    assert iso(fires, NY) == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_calendar_validation() -> None:
    with pytest.raises(ScheduleError, match=r"^every: must be a whole number of at least 1"):
        Calendar(0, "days", time(9), date(2026, 1, 1), NY)
    with pytest.raises(ScheduleError, match=r"^unit: unknown unit 'fortnights'"):
        Calendar(1, "fortnights", time(9), date(2026, 1, 1), NY)
    with pytest.raises(ScheduleError, match=r"^at: "):
        Calendar(1, "days", time(9, tzinfo=UTC), date(2026, 1, 1), NY)


# --- Once -----------------------------------------------------------------------------------


def test_once_fires_once_then_never() -> None:
    schedule = Once(at("2026-12-01T09:00:00+01:00"), BERLIN)
    assert schedule.next_after(at("2026-11-30T00:00:00Z")) == at("2026-12-01T08:00:00Z")
    assert schedule.next_after(at("2026-12-01T08:00:00Z")) is None
    assert list(schedule.iter_after(at("2026-01-01T00:00:00Z"))) == [at("2026-12-01T08:00:00Z")]
    assert list(schedule.iter_after(at("2027-01-01T00:00:00Z"))) == []
    assert schedule.describe() == "once at 2026-12-01T09:00:00+01:00"


def test_once_from_local_gap_and_fold() -> None:
    gap = Once.from_local(datetime(2026, 3, 8, 2, 30), NY)
    assert gap.at.astimezone(NY).isoformat() == "2026-03-08T03:00:00-04:00"
    fold = Once.from_local(datetime(2026, 11, 1, 1, 30), NY)
    assert fold.at.isoformat() == "2026-11-01T05:30:00+00:00"
    plain = Once.from_local(datetime(2026, 12, 1, 9, 0), BERLIN)
    assert plain.at.isoformat() == "2026-12-01T08:00:00+00:00"


def test_once_validation() -> None:
    with pytest.raises(ScheduleError, match=r"^at: naive datetime"):
        Once(datetime(2026, 1, 1), NY)
    with pytest.raises(ScheduleError, match=r"^at: expected a local time without offset"):
        Once.from_local(at("2026-01-01T00:00:00Z"), NY)
