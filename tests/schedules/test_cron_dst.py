"""Cron across DST edges: tables of instants in ISO form so the offsets are visible.

Wildcard jobs (minute or hour field starting with ``*``) fire at every real instant whose
local minute matches; fixed-time jobs fire once per local minute: a fold on its first pass,
a gap once at the instant of the change.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from beat.time.schedules import Cron


def fires(expr: str, zone: str, after: str, n: int) -> list[str]:
    tz = ZoneInfo(zone)
    schedule = Cron(expr, tz)
    return [
        f.astimezone(tz).isoformat()
        for f in islice(schedule.iter_after(datetime.fromisoformat(after)), n)
    ]


TABLE = [
    # --- America/New_York: spring forward 2026-03-08 02:00 EST -> 03:00 EDT ---
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
    # two matching minutes in the gap: still one fire, at the change
    ("0,30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]),
    # gap minutes match and so does the first minute after the gap: one fire, not two
    ("0,30 2,3 * * *", "America/New_York", "2026-03-08T01:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:00:00-04:00"]),
    # wildcard: gap minutes never fire
    ("*/30 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     ["2026-03-09T02:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
    ("30 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     ["2026-03-08T00:30:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00"]),
    # a job just after the gap is untouched
    ("0 3 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"]),
    # --- America/New_York: fall back 2026-11-01 02:00 EDT -> 01:00 EST ---
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
     ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
    ("0,30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"]),
    ("0 * * * *", "America/New_York", "2026-11-01T04:30:00+00:00",
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]),
    ("*/20 1 * * *", "America/New_York", "2026-11-01T00:30:00-04:00",
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00", "2026-11-01T01:40:00-04:00",
      "2026-11-01T01:00:00-05:00", "2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00",
      "2026-11-02T01:00:00-05:00"]),
    # asked from inside the first pass: the second pass of earlier minutes is still ahead
    ("0,45 * * * *", "America/New_York", "2026-11-01T01:30:00-04:00",
     ["2026-11-01T01:45:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:45:00-05:00",
      "2026-11-01T02:00:00-05:00"]),
    # asked from inside the second pass: a fixed-time job waits for the next day
    ("45 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00",
     ["2026-11-02T01:45:00-05:00"]),
    ("*/30 * * * *", "America/New_York", "2026-11-01T01:10:00-05:00",
     ["2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"]),
    # --- Australia/Lord_Howe: 30-minute shifts (+10:30 <-> +11) ---
    # spring 2026-10-04 02:00 -> 02:30
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
     ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),
    ("45 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
     ["2026-10-04T02:45:00+11:00", "2026-10-05T02:45:00+11:00"]),
    ("*/15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:40:00+10:30",
     ["2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"]),
    # autumn 2026-04-05 02:00 -> 01:30: 01:30-02:00 happens twice
    ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
     ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]),
    ("*/15 1 * * *", "Australia/Lord_Howe", "2026-04-05T01:20:00+11:00",
     ["2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30",
      "2026-04-05T01:45:00+10:30", "2026-04-06T01:00:00+10:30"]),
    # --- America/Santiago: changes at midnight ---
    # spring 2026-09-06 00:00 -> 01:00: midnight does not exist
    ("0 0 * * *", "America/Santiago", "2026-09-05T12:00:00-04:00",
     ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"]),
    ("30 0 * * 0", "America/Santiago", "2026-09-05T12:00:00-04:00",
     ["2026-09-06T01:00:00-03:00", "2026-09-13T00:30:00-03:00"]),
    # autumn 2026-04-05 00:00 -> 2026-04-04 23:00: 23:00-24:00 on the 4th happens twice
    ("30 23 * * *", "America/Santiago", "2026-04-04T12:00:00-03:00",
     ["2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"]),
    ("30 * * * *", "America/Santiago", "2026-04-04T22:45:00-03:00",
     ["2026-04-04T23:30:00-03:00", "2026-04-04T23:30:00-04:00", "2026-04-05T00:30:00-04:00"]),
    ("0 0 * * *", "America/Santiago", "2026-04-04T12:00:00-03:00",
     ["2026-04-05T00:00:00-04:00", "2026-04-06T00:00:00-04:00"]),
    # --- Pacific/Chatham: +12:45 <-> +13:45, changes at 02:45 / 03:45 local ---
    # spring 2026-09-27 02:45 -> 03:45
    ("0 3 * * *", "Pacific/Chatham", "2026-09-26T12:00:00+12:45",
     ["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"]),
    ("0 * * * *", "Pacific/Chatham", "2026-09-27T01:30:00+12:45",
     ["2026-09-27T02:00:00+12:45", "2026-09-27T04:00:00+13:45"]),
    # autumn 2026-04-05 03:45 -> 02:45
    ("0 3 * * *", "Pacific/Chatham", "2026-04-04T12:00:00+13:45",
     ["2026-04-05T03:00:00+13:45", "2026-04-06T03:00:00+12:45"]),
    ("0 * * * *", "Pacific/Chatham", "2026-04-05T02:30:00+13:45",
     ["2026-04-05T03:00:00+13:45", "2026-04-05T03:00:00+12:45", "2026-04-05T04:00:00+12:45"]),
    # --- Europe/London: 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT ---
    ("30 1 * * *", "Europe/London", "2026-03-28T12:00:00+00:00",
     ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),
    ("30 1 * * *", "Europe/London", "2026-10-24T12:00:00+01:00",
     ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
    ("30 * * * *", "Europe/London", "2026-10-25T00:00:00+01:00",
     ["2026-10-25T00:30:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00",
      "2026-10-25T02:30:00+00:00"]),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), TABLE)
def test_dst_table(expr: str, zone: str, after: str, expected: list[str]) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


def test_next_after_is_strict_and_utc() -> None:
    schedule = Cron("30 2 * * *", ZoneInfo("America/New_York"))
    fire = schedule.next_after(datetime.fromisoformat("2026-03-09T06:30:00+00:00"))
    assert fire is not None
    assert fire.isoformat() == "2026-03-10T06:30:00+00:00"
    assert fire.utcoffset() is not None and fire.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_wildcard_classification() -> None:
    ny = ZoneInfo("America/New_York")
    assert Cron("* 2 * * *", ny).is_wildcard
    assert Cron("0 * * * *", ny).is_wildcard
    assert Cron("*/5 3 * * *", ny).is_wildcard
    assert Cron("@hourly", ny).is_wildcard
    assert not Cron("30 2 * * *", ny).is_wildcard
    assert not Cron("0,30 1-3 * * *", ny).is_wildcard
    assert not Cron("@daily", ny).is_wildcard
