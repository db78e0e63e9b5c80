"""Every schedule kind near datetime.max: the fires run out (None), never an OverflowError."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from beat.entries import Schedule
from beat.time.dst_notes import dst_note
from beat.time.schedules import Calendar, Cron, Interval, Once

# UTC, the last zone to reach year 10000 (+14) and the first (-11), one with DST.
ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York")
AFTERS = (
    datetime(9998, 12, 31, tzinfo=UTC),
    datetime(9999, 12, 31, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
)


def schedules(zone: ZoneInfo) -> list[Schedule]:
    return [
        Cron("* * * * *", zone),
        Cron("59 23 31 12 *", zone),
        Cron("0 0 * * *", zone),
        Interval(timedelta(hours=1), datetime(2026, 1, 1, tzinfo=UTC), zone),
        Interval(timedelta(days=7), datetime(9999, 12, 1, tzinfo=UTC), zone),
        Calendar(1, "days", time(23, 59, 59), date(9999, 12, 1), zone),
        Calendar(1, "months", time(12, 0), date(9999, 1, 31), zone),
        Calendar(1, "years", time(0, 0), date(9996, 2, 29), zone),
        Once.from_local(datetime(9999, 12, 31, 8, 0), zone),
    ]


@pytest.mark.parametrize("zone_name", ZONES)
def test_fires_run_out_without_overflow(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    for schedule in schedules(zone):
        for after in AFTERS:
            fires = list(islice(schedule.iter_after(after), 2000))
            if after.year == 9999:  # at most a day and a half of fires is left
                assert len(fires) < 2000, (schedule, after)
            assert all(f > after for f in fires)
            for fire in fires:
                fire.astimezone(zone)  # every fire can be shown in its zone
                dst_note(schedule, fire)


def test_interval_after_year_9998_has_no_more_fires() -> None:
    every = Interval(timedelta(days=1), datetime(2026, 1, 1, tzinfo=UTC), ZoneInfo("UTC"))
    assert every.next_after(datetime(9999, 12, 30, 12, tzinfo=UTC)) == datetime(
        9999, 12, 31, tzinfo=UTC
    )
    assert every.next_after(datetime(9999, 12, 31, tzinfo=UTC)) is None
    # a fire whose local time would be in year 10000 is not a fire either
    east = Interval(timedelta(hours=1), datetime(2026, 1, 1, tzinfo=UTC), ZoneInfo("Etc/GMT-14"))
    assert east.next_after(datetime(9999, 12, 31, 8, 30, tzinfo=UTC)) == datetime(
        9999, 12, 31, 9, tzinfo=UTC
    )
    assert east.next_after(datetime(9999, 12, 31, 9, 30, tzinfo=UTC)) is None


def test_calendar_and_cron_whose_last_time_is_past_the_range() -> None:
    ny = ZoneInfo("America/New_York")
    # 9999-12-31 23:59:59 New York is 10000-01-01 04:59:59Z: not an instant datetime holds
    calendar = Calendar(1, "days", time(23, 59, 59), date(9999, 12, 1), ny)
    assert calendar.next_after(datetime(9999, 12, 31, tzinfo=UTC)) == datetime(
        9999, 12, 31, 4, 59, 59, tzinfo=UTC
    )
    assert calendar.next_after(datetime(9999, 12, 31, 5, tzinfo=UTC)) is None
    assert Cron("59 23 31 12 *", ny).next_after(datetime(9998, 12, 31, tzinfo=UTC)) == (
        datetime(9999, 1, 1, 4, 59, tzinfo=UTC)
    )
    assert Cron("59 23 31 12 *", ny).next_after(datetime(9999, 1, 2, tzinfo=UTC)) is None
