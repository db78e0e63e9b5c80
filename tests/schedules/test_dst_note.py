"""The human DST notes `beat next` prints next to fires on a DST edge."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from beat.time.schedules import Calendar, Cron, Interval, Once, dst_note

NY = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_gap_note_for_fixed_time_cron() -> None:
    schedule = Cron("30 2 * * *", NY)
    fire = schedule.next_after(at("2026-03-07T12:00:00-05:00"))
    assert fire == at("2026-03-08T07:00:00Z")
    assert dst_note(schedule, fire) == "02:30 does not exist on 2026-03-08; runs at 03:00 EDT"
    assert dst_note(schedule, at("2026-03-09T06:30:00Z")) is None


def test_no_gap_note_when_the_job_is_due_at_the_change_anyway() -> None:
    assert dst_note(Cron("0 3 * * *", NY), at("2026-03-08T07:00:00Z")) is None


def test_fold_notes() -> None:
    fixed = Cron("30 1 * * *", NY)
    assert (
        dst_note(fixed, at("2026-11-01T05:30:00Z"))
        == "01:30 occurs twice on 2026-11-01; runs on the first pass (EDT)"
    )
    wildcard = Cron("30 * * * *", NY)
    assert (
        dst_note(wildcard, at("2026-11-01T05:30:00Z"))
        == "01:30 occurs twice on 2026-11-01; runs on both passes, this is the first pass (EDT)"
    )
    assert (
        dst_note(wildcard, at("2026-11-01T06:30:00Z"))
        == "01:30 occurs twice on 2026-11-01; runs on both passes, this is the second pass (EST)"
    )
    assert dst_note(wildcard, at("2026-11-01T07:30:00Z")) is None


def test_calendar_and_once_notes() -> None:
    calendar = Calendar(1, "days", time(2, 30), date(2026, 3, 1), NY)
    assert (
        dst_note(calendar, at("2026-03-08T07:00:00Z"))
        == "02:30 does not exist on 2026-03-08; runs at 03:00 EDT"
    )
    once = Once.from_local(datetime(2026, 11, 1, 1, 30), NY)
    assert (
        dst_note(once, once.at) == "01:30 occurs twice on 2026-11-01; runs on the first pass (EDT)"
    )
    assert dst_note(Once(at("2026-06-01T00:00:00Z"), NY), at("2026-06-01T00:00:00Z")) is None


def test_interval_has_no_note() -> None:
    schedule = Interval(timedelta(hours=1), at("2026-11-01T00:00:00Z"), NY)
    assert dst_note(schedule, at("2026-11-01T06:00:00Z")) is None
