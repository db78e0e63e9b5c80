"""The human DST notes `beat next` prints next to fires on a DST edge."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from beat.time.dst_notes import dst_note
from beat.time.schedules import Calendar, Cron, Interval, Once

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


APIA = ZoneInfo("Pacific/Apia")  # skipped all of 2011-12-30 (from -10 to +14)


@pytest.mark.parametrize(
    ("every", "unit", "start"),
    [
        (1, "days", date(2011, 12, 1)),
        (2, "days", date(2011, 12, 2)),
        (1, "weeks", date(2011, 12, 2)),
        (1, "months", date(2011, 11, 30)),
    ],
)
def test_calendar_gap_across_midnight_names_the_skipped_date(
    every: int, unit: str, start: date
) -> None:
    calendar = Calendar(every, unit, time(12, 0), start, APIA)
    fire = calendar.next_after(at("2011-12-29T23:00:00Z"))
    assert fire == at("2011-12-30T10:00:00Z")  # 2011-12-31 00:00 +14, the change
    assert dst_note(calendar, fire) == "12:00 does not exist on 2011-12-30; runs at 00:00 +14"


def test_every_kind_names_the_same_skipped_date() -> None:
    expected = "12:00 does not exist on 2011-12-30; runs at 00:00 +14"
    fire = at("2011-12-30T10:00:00Z")
    once = Once.from_local(datetime(2011, 12, 30, 12, 0), APIA)
    assert once.at == fire
    assert dst_note(once, fire) == expected
    cron = Cron("0 12 * * *", APIA)
    assert cron.next_after(at("2011-12-29T23:00:00Z")) == fire
    assert dst_note(cron, fire) == expected


def test_wildcard_job_gets_a_note_on_its_first_fire_after_a_skipped_hour() -> None:
    for expr in ("*/15 * * * *", "* * * * *", "0 * * * *"):
        schedule = Cron(expr, NY)
        fires = list(islice(schedule.iter_after(at("2026-03-08T06:59:00Z")), 3))
        assert fires[0] == at("2026-03-08T07:00:00Z"), expr  # 03:00 EDT
        notes = [dst_note(schedule, f) for f in fires]
        assert notes == ["02:00-02:59 skipped on 2026-03-08", None, None], expr
        assert dst_note(schedule, at("2026-03-08T06:00:00Z")) is None  # 01:00 EST, before
    # the first fire after the gap may be later than the change
    half = Cron("30 * * * *", NY)
    assert half.next_after(at("2026-03-08T06:30:00Z")) == at("2026-03-08T07:30:00Z")
    assert dst_note(half, at("2026-03-08T07:30:00Z")) == "02:00-02:59 skipped on 2026-03-08"
    # a whole skipped day
    every_half_hour = Cron("*/30 * * * *", APIA)
    assert (
        dst_note(every_half_hour, at("2011-12-30T10:00:00Z")) == "00:00-23:59 skipped on 2011-12-30"
    )


def test_no_skip_note_when_the_gap_held_none_of_the_minutes() -> None:
    # Lord Howe springs forward 30 minutes: 02:00-02:29 is skipped, 02:30 exists.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    schedule = Cron("30 * * * *", lord_howe)
    fire = schedule.next_after(at("2026-10-03T15:00:00Z"))
    assert fire == at("2026-10-03T15:30:00Z")
    assert dst_note(schedule, fire) is None
    # the change is at 02:00 +1030 = 02:30 +11 (15:30Z): a quarter-hourly job lost 02:00, 02:15
    assert dst_note(Cron("*/15 * * * *", lord_howe), fire) == "02:00-02:29 skipped on 2026-10-04"


def test_notes_keep_the_seconds_of_the_time() -> None:
    gap = Calendar(1, "days", time(2, 30, 15), date(2026, 3, 1), NY)
    fire = gap.next_after(at("2026-03-07T12:00:00Z"))
    assert fire == at("2026-03-08T07:00:00Z")
    assert dst_note(gap, fire) == "02:30:15 does not exist on 2026-03-08; runs at 03:00 EDT"
    once = Once.from_local(datetime(2026, 3, 8, 2, 30, 15), NY)
    assert dst_note(once, once.at) == "02:30:15 does not exist on 2026-03-08; runs at 03:00 EDT"
    fold = Calendar(1, "days", time(1, 30, 15), date(2026, 10, 1), NY)
    fire = fold.next_after(at("2026-11-01T00:00:00Z"))
    assert dst_note(fold, fire) == (
        "01:30:15 occurs twice on 2026-11-01; runs on the first pass (EDT)"
    )
