"""Cron field syntax: standard forms, the day rule, extensions, and every invalid form."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from beat.errors import ScheduleError
from beat.time.schedules import Cron, shared_cron

UTC_ZONE = ZoneInfo("UTC")


def utc_fires(expr: str, after: str, n: int, name: str = "") -> list[str]:
    schedule = Cron(expr, UTC_ZONE, name=name)
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    return [f.strftime("%Y-%m-%d %H:%M %a") for f in islice(schedule.iter_after(start), n)]


def test_day_rule_or_when_neither_field_starts_with_star() -> None:
    # the 13th OR any Friday (2026-02-13 is itself a Friday)
    assert utc_fires("0 0 13 * 5", "2026-02-01", 4) == [
        "2026-02-06 00:00 Fri",
        "2026-02-13 00:00 Fri",
        "2026-02-20 00:00 Fri",
        "2026-02-27 00:00 Fri",
    ]
    assert utc_fires("0 0 1,15 * 1", "2026-05-31", 4) == [
        "2026-06-01 00:00 Mon",
        "2026-06-08 00:00 Mon",
        "2026-06-15 00:00 Mon",
        "2026-06-22 00:00 Mon",
    ]


def test_day_rule_and_when_a_field_starts_with_star() -> None:
    # "*/2" starts with "*": odd days AND Mondays (cronie's DOM_STAR), not odd days OR Mondays
    assert utc_fires("0 0 */2 * 1", "2026-05-31", 3) == [
        "2026-06-01 00:00 Mon",
        "2026-06-15 00:00 Mon",
        "2026-06-29 00:00 Mon",
    ]
    assert utc_fires("0 0 * * 1", "2026-05-31", 2) == [
        "2026-06-01 00:00 Mon",
        "2026-06-08 00:00 Mon",
    ]
    assert utc_fires("0 0 1-7 * *", "2026-06-05", 3) == [
        "2026-06-06 00:00 Sat",
        "2026-06-07 00:00 Sun",
        "2026-07-01 00:00 Wed",
    ]


def test_step_in_day_of_month_is_every_other_day_from_the_first() -> None:
    # croniter's values for "*/2" (odd days); the day rule is ours (test_croniter_deviations)
    assert utc_fires("0 0 */2 * *", "2026-01-29", 4) == [
        "2026-01-31 00:00 Sat",
        "2026-02-01 00:00 Sun",
        "2026-02-03 00:00 Tue",
        "2026-02-05 00:00 Thu",
    ]


def test_single_value_ranges_are_not_stars() -> None:
    # croniter 7.0.0 expands "7-7" and "23-23" to "*"; beat/time/cron_fields.py corrects it
    assert utc_fires("0 23-23 7-7 * *", "2026-01-01", 2) == [
        "2026-01-07 23:00 Wed",
        "2026-02-07 23:00 Sat",
    ]


def test_value_slash_step_means_value_to_max() -> None:
    assert utc_fires("5/20 0 1 1 *", "2026-01-01", 3) == [
        "2026-01-01 00:05 Thu",
        "2026-01-01 00:25 Thu",
        "2026-01-01 00:45 Thu",
    ]
    assert utc_fires("0 0 * * 1-5/2", "2026-05-31", 3) == [
        "2026-06-01 00:00 Mon",
        "2026-06-03 00:00 Wed",
        "2026-06-05 00:00 Fri",
    ]


def test_names_case_insensitive_and_sunday_is_0_and_7() -> None:
    sundays = ["2026-06-07 09:00 Sun", "2026-06-14 09:00 Sun"]
    assert utc_fires("0 9 * * 0", "2026-06-01", 2) == sundays
    assert utc_fires("0 9 * * 7", "2026-06-01", 2) == sundays
    assert utc_fires("0 9 * * SUN", "2026-06-01", 2) == sundays
    assert utc_fires("0 9 * * 5-7", "2026-06-05", 3) == [
        "2026-06-05 09:00 Fri",
        "2026-06-06 09:00 Sat",
        "2026-06-07 09:00 Sun",
    ]
    assert utc_fires("0 9 1 Jan,jUL *", "2026-02-01", 2) == [
        "2026-07-01 09:00 Wed",
        "2027-01-01 09:00 Fri",
    ]
    assert utc_fires("0 9 * * mon-WED", "2026-06-04", 1) == ["2026-06-08 09:00 Mon"]


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@yearly", ["2027-01-01 00:00 Fri"]),
        ("@annually", ["2027-01-01 00:00 Fri"]),
        ("@monthly", ["2026-07-01 00:00 Wed"]),
        ("@weekly", ["2026-06-07 00:00 Sun"]),
        ("@daily", ["2026-06-02 00:00 Tue"]),
        ("@midnight", ["2026-06-02 00:00 Tue"]),
        ("@HOURLY", ["2026-06-01 13:00 Mon"]),
    ],
)
def test_macros(macro: str, expected: list[str]) -> None:
    assert utc_fires(macro, "2026-06-01 12:00", 1) == expected


def test_last_day_of_month_and_last_weekday() -> None:
    assert utc_fires("0 9 L * *", "2026-01-31 10:00", 3) == [
        "2026-02-28 09:00 Sat",
        "2026-03-31 09:00 Tue",
        "2026-04-30 09:00 Thu",
    ]
    assert utc_fires("0 9 L 2 *", "2027-06-01", 2) == [
        "2028-02-29 09:00 Tue",
        "2029-02-28 09:00 Wed",
    ]
    # 5L: the last Friday
    assert utc_fires("0 9 * * 5L", "2026-01-01", 3) == [
        "2026-01-30 09:00 Fri",
        "2026-02-27 09:00 Fri",
        "2026-03-27 09:00 Fri",
    ]
    # LW: the last weekday (2026-05-31 is a Sunday, 2026-10-31 a Saturday)
    assert utc_fires("0 9 LW 5,10 *", "2026-01-01", 2) == [
        "2026-05-29 09:00 Fri",
        "2026-10-30 09:00 Fri",
    ]


def test_nth_weekday() -> None:
    assert utc_fires("0 9 * * 1#2", "2026-01-01", 3) == [
        "2026-01-12 09:00 Mon",
        "2026-02-09 09:00 Mon",
        "2026-03-09 09:00 Mon",
    ]
    # a fifth Thursday only in some months
    assert utc_fires("0 9 * * thu#5", "2026-01-01", 2) == [
        "2026-01-29 09:00 Thu",
        "2026-04-30 09:00 Thu",
    ]


def test_nearest_weekday() -> None:
    # 2026-02-15 is a Sunday -> Monday 16th; 2026-03-15 Sunday -> 16th; 2026-08-15 Saturday -> 14th
    assert utc_fires("0 9 15W 2,3,8 *", "2026-01-01", 3) == [
        "2026-02-16 09:00 Mon",
        "2026-03-16 09:00 Mon",
        "2026-08-14 09:00 Fri",
    ]
    # 1W on Saturday 2026-08-01 stays in the month: Monday the 3rd
    assert utc_fires("0 9 1W 8 *", "2026-01-01", 1) == ["2026-08-03 09:00 Mon"]
    # 31W on Sunday 2026-05-31: Friday the 29th
    assert utc_fires("0 9 31W 5 *", "2026-01-01", 1) == ["2026-05-29 09:00 Fri"]


def test_hashed_values_depend_on_the_name_and_stay_in_range() -> None:
    minutes = {
        Cron("H * * * *", UTC_ZONE, name=f"job-{i}").next_after(datetime(2026, 1, 1, tzinfo=UTC))
        for i in range(40)
    }
    assert len(minutes) > 10  # spread by name
    a = utc_fires("H H * * *", "2026-01-01", 2, name="nightly-report")
    assert a == utc_fires("H H * * *", "2026-01-01", 2, name="nightly-report")
    assert a[0][11:16] == a[1][11:16]  # same time each day
    for i in range(30):
        fire = utc_fires("H(0-29) H(1-3) * * *", "2026-01-01", 1, name=f"n{i}")[0]
        assert 1 <= int(fire[11:13]) <= 3 and 0 <= int(fire[14:16]) <= 29
    # H/15: four fires an hour, 15 minutes apart, from a hashed offset below 15
    hour = utc_fires("H/15 * * * *", "2026-01-01", 4, name="poll")
    offsets = [int(f[14:16]) for f in hour]
    assert offsets[0] < 15 and offsets == [offsets[0] + 15 * k for k in range(4)]


def test_hashed_values_are_stable_across_processes() -> None:
    code = (
        "from datetime import UTC, datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from beat.time.schedules import Cron\n"
        "c = Cron('H H H * H', ZoneInfo('UTC'), name='payroll')\n"
        "print(c.next_after(datetime(2026, 1, 1, tzinfo=UTC)).isoformat())\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    here = Cron("H H H * H", UTC_ZONE, name="payroll").next_after(datetime(2026, 1, 1, tzinfo=UTC))
    assert runs == {here.isoformat()}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("* * 32 * *", "day-of-month: 32 is out of range 1-31"),
        ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("* * * 13 *", "month: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week: 8 is out of range 0-7"),
        ("*/0 * * * *", "minute: step 0 in '*/0'"),
        ("0 0-23/0 * * *", "hour: step 0 in '0-23/0'"),
        ("* * * *", "cron: expected 5 fields, got 4"),
        ("* * * * * * *", "cron: expected 5 fields, got 7"),
        ("", "cron: expected 5 fields, got 0"),
        ("0 0 * foo *", "month: unknown name 'foo'"),
        ("0 0 * * funday", "day-of-week: unknown name 'funday'"),
        ("0 0 * * mon-foo", "day-of-week: unknown name 'foo'"),
        ("x * * * *", "minute: invalid value 'x' in 'x'"),
        ("1.5 * * * *", "minute: invalid value '1.5' in '1.5'"),
        ("30-10 * * * *", "minute: range '30-10' runs backwards (start above end)"),
        ("1,,2 * * * *", "minute: empty item in '1,,2'"),
        ("*/x * * * *", "minute: invalid step 'x' in '*/x'"),
        ("0 0 * * 1#6", "day-of-week: '#' needs a week number 1-5 in '1#6'"),
        ("0 0 * * L", "day-of-week: 'L' needs a weekday, e.g. '5L' for the last Friday"),
        ("0 0 32W * *", "day-of-month: 32 is out of range 1-31"),
        ("H(0-70) * * * *", "minute: 70 is out of range 0-59"),
        ("Hx * * * *", "minute: invalid H form 'Hx' (use H, H/n or H(a-b))"),
        ("@reboot", "cron: unknown macro '@reboot'"),
        ("0 0 30 2 *", "day-of-month: '30' never occurs in month field '2'"),
        ("0 0 31 4,6 *", "day-of-month: '31' never occurs in month field '4,6'"),
        ("* * 32 13 8", "day-of-month: 32 is out of range 1-31"),  # the first bad field
        ("H(5-1) * * * *", "minute: range '(5-1)' in 'H(5-1)' runs backwards"),
    ],
)
def test_invalid_forms_have_precise_messages(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as exc:
        Cron(expr, UTC_ZONE)
    assert str(exc.value).startswith(message), str(exc.value)
    assert exc.value.where == message.split(":")[0]


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ScheduleError, match=r"^after: naive datetime"):
        Cron("* * * * *", UTC_ZONE).next_after(datetime(2026, 1, 1))


def test_describe_equality_and_repr() -> None:
    ny = ZoneInfo("America/New_York")
    assert Cron("30  2 * * *", ny).describe() == "cron '30 2 * * *'"
    assert Cron("30 2 * * *", ny) == Cron(" 30 2 * * * ", ny)
    assert Cron("30 2 * * *", ny) != Cron("30 2 * * *", UTC_ZONE)
    assert Cron("@daily", ny).anchored(datetime(2026, 1, 1, tzinfo=UTC)) == Cron("@daily", ny)
    assert "America/New_York" in repr(Cron("@daily", ny))


def test_h_crons_whose_names_resolve_alike_are_equal_and_shared() -> None:
    # "job5" and "job10" both resolve `H * * * *` to minute 32; "e" to minute 54 (crc32).
    a, b = Cron("H * * * *", UTC_ZONE, "job5"), Cron("H * * * *", UTC_ZONE, "job10")
    assert a == b and hash(a) == hash(b)
    assert a != Cron("H * * * *", UTC_ZONE, "e")
    assert a != Cron("32 * * * *", UTC_ZONE)  # same fires, other text: shown differently
    assert a != Cron("H * * * *", ZoneInfo("Asia/Tokyo"), "job5")
    # Issue 17: one schedule object for all the entries whose H resolves alike.
    shared = shared_cron("H * * * *", UTC_ZONE, "job5")
    assert shared_cron("H  * * * *", UTC_ZONE, "job10") is shared
    assert shared_cron("H * * * *", UTC_ZONE, "e") is not shared
    assert shared.describe() == "cron 'H * * * *'"


def test_an_h_cron_resolving_as_an_earlier_one_is_not_built_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fleet of H entries (one per row of a SQL source) builds one Cron per minute its
    names resolve to, not one per name: the names are only resolved (issue 17)."""
    zone = ZoneInfo("Asia/Tokyo")  # a zone no other test's H crons are shared in
    names = [f"fleet-{i}" for i in range(300)]
    built: list[str] = []
    real = Cron.__init__

    def counted(self: Cron, expr: str, zone: ZoneInfo, name: str = "") -> None:
        built.append(name)
        real(self, expr, zone, name)

    monkeypatch.setattr(Cron, "__init__", counted)
    crons = [shared_cron("H * * * *", zone, name) for name in names]
    assert len(built) == len({id(c) for c in crons}) <= 60
    monkeypatch.undo()
    assert crons == [Cron("H * * * *", zone, name) for name in names]


def test_never_firing_day_patterns_are_rejected_up_front() -> None:
    # the 1st AND the second Monday (days 8-14) never coincide: an error, not a silent never
    with pytest.raises(ScheduleError, match=r"^day-of-month: no day ever matches"):
        Cron("0 0 */31 * 1#2", UTC_ZONE)


def test_far_future_ends_with_none() -> None:
    schedule = Cron("0 0 1 1 *", UTC_ZONE)
    assert schedule.next_after(datetime(9999, 6, 1, tzinfo=UTC)) is None


def test_year_one_and_zones_with_dst() -> None:
    schedule = Cron("0 0 1 1 *", ZoneInfo("Europe/London"))
    fire = schedule.next_after(datetime(1, 6, 1, tzinfo=UTC))
    assert fire is not None and fire.year == 2
