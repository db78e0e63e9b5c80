"""Durations (taskqueue.durations, re-exported by beat.time.durations) and calendar steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beat.time.durations import (
    format_calendar_step,
    format_duration,
    parse_calendar_step,
    parse_duration,
)
from taskqueue import durations as shared


def test_beat_reexports_the_shared_parser() -> None:
    assert parse_duration is shared.parse_duration
    assert format_duration is shared.format_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (
            "1w2d3h4m5s6ms",
            timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5, milliseconds=6),
        ),
        ("1.5h", timedelta(minutes=90)),
        ("0.1s", timedelta(milliseconds=100)),
        ("1.5ms", timedelta(microseconds=1500)),
        ("90", timedelta(seconds=90)),
        (" 2.5 ", timedelta(seconds=2.5)),
        (90, timedelta(seconds=90)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_parse_valid(text: str | int | float, expected: timedelta) -> None:
    assert parse_duration(text, "every") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5x", "every: '5x' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("", "every: '' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("s", "every: 's' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("30m1h", "every: '30m1h' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("1h1h", "every: '1h1h' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("5M", "every: '5M' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("1e3", "every: '1e3' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("nan", "every: 'nan' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (True, "every: True is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (None, "every: None is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ([30], "every: [30] is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (float("inf"), "every: inf is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        ("0s", "every: '0s' must be positive"),
        ("0", "every: '0' must be positive"),
        (0, "every: 0 must be positive"),
        (-5, "every: -5 must be positive"),
        ("-5s", "every: '-5s' must be positive"),
        ("0.0000001s", "every: '0.0000001s' must be positive"),
        (
            timedelta(seconds=-1),
            "every: datetime.timedelta(days=-1, seconds=86399) must be positive",
        ),
        ("999999999w", "every: '999999999w' is too long (at most 999999999 days)"),
    ],
)
def test_parse_invalid(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value, "every")  # type: ignore[arg-type]
    assert str(info.value) == message


def test_zero_only_when_allowed() -> None:
    assert parse_duration("0s", "--lookahead", allow_zero=True) == timedelta(0)
    with pytest.raises(ValueError, match="must be positive"):
        parse_duration("-1s", "--lookahead", allow_zero=True)


# Durations and their compact text (also what an interval's description says: see
# tests/schedules/test_interval_calendar_once.py).
FORMATTED = [
    (timedelta(hours=1, minutes=30), "1h30m"),
    (timedelta(milliseconds=500), "500ms"),
    (timedelta(seconds=30), "30s"),
    (timedelta(minutes=5), "5m"),
    (timedelta(days=2), "2d"),
    (timedelta(days=1, seconds=1), "1d1s"),
    (timedelta(weeks=2), "2w"),
    (timedelta(days=8, seconds=1), "1w1d1s"),
    (timedelta(microseconds=1500), "1.5ms"),
    (timedelta(seconds=1, microseconds=1), "1s0.001ms"),
    (timedelta(0), "0s"),
    (timedelta(seconds=-90), "-1m30s"),
]


@pytest.mark.parametrize(("value", "text"), FORMATTED)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.timedeltas(min_value=timedelta(microseconds=1)))
def test_format_parse_round_trip(value: timedelta) -> None:
    assert parse_duration(format_duration(value), "x") == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", (1, "days")),
        ("2w", (2, "weeks")),
        ("3mo", (3, "months")),
        ("1y", (1, "years")),
        (" 10 d ", (10, "days")),
    ],
)
def test_calendar_step_valid(text: str, expected: tuple[int, str]) -> None:
    assert parse_calendar_step(text, "calendar.every") == expected
    assert parse_calendar_step(format_calendar_step(*expected), "x") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1M", "c.every: '1M' has an unknown unit 'M' (write months as 'mo' (e.g. 3mo))"),
        ("3m", "c.every: '3m' has an unknown unit 'm' (write months as 'mo' (e.g. 3mo))"),
        (
            "5h",
            "c.every: '5h' has an unknown unit 'h' (a calendar step is whole days or more; "
            "use 'every:' for shorter intervals)",
        ),
        ("2q", "c.every: '2q' has an unknown unit 'q' (units: d, w, mo, y)"),
        ("0w", "c.every: '0w' must be at least 1"),
        ("w", "c.every: 'w' is not a calendar step (e.g. 1d, 2w, 3mo, 1y)"),
        ("1.5w", "c.every: '1.5w' is not a calendar step (e.g. 1d, 2w, 3mo, 1y)"),
        (2, "c.every: 2 is not a calendar step (e.g. 1d, 2w, 3mo, 1y)"),
    ],
)
def test_calendar_step_invalid(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_calendar_step(value, "c.every")  # type: ignore[arg-type]
    assert str(info.value) == message


_UNITS_US = {"w": 604_800_000_000, "d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000}
_UNITS_US |= {"s": 1_000_000, "ms": 1_000, "": 1_000_000}


@given(
    whole=st.integers(0, 10**7),
    fraction=st.text("0123456789", max_size=9),
    unit=st.sampled_from(sorted(_UNITS_US)),
)
def test_numbers_are_read_exactly_and_rounded_half_to_even(
    whole: int, fraction: str, unit: str
) -> None:
    """The parser reads numbers with integers, not the decimal module (~2.5 ms of start-up,
    issue 17): the same microseconds as exact decimal arithmetic, half to even."""
    from decimal import Decimal

    text = f"{whole}.{fraction}" if fraction else str(whole)
    expected = int((Decimal(text) * _UNITS_US[unit]).to_integral_value())
    if 0 < expected <= timedelta.max // timedelta(microseconds=1):
        assert parse_duration(f"{text}{unit}", "x") == timedelta(microseconds=expected)


@pytest.mark.parametrize("value", [0.5, 1.5, 2.5e-6, 1 / 3, 123.456789, 1e-6, 7])
def test_floats_are_read_by_their_exact_binary_value(value: float) -> None:
    from decimal import Decimal

    expected = int((Decimal(value) * 1_000_000).to_integral_value())
    assert parse_duration(value, "x") == timedelta(microseconds=expected)
