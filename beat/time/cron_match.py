"""The fast search: first matching local wall-clock minute at or after a given one.

Works on naive local minutes only; DST is the caller's business (beat/time/cron_dst.py). Each
field is a sorted tuple searched with ``bisect``, and the matching days of a month are
computed once per (year, month) and cached, so a search is a handful of bisects rather than
a minute-by-minute walk.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from beat.time.cron_fields import CronSpec

# The Gregorian calendar (weekdays included) repeats every 400 years: a day pattern with no
# match in 401 years never matches.
_HORIZON_YEARS = 401
_MAX_YEAR = 9999  # datetime's limit
_DAY_CACHE_LIMIT = 4096


def _next_table(values: tuple[int, ...], size: int) -> tuple[int, ...]:
    """``table[i]``: the smallest allowed value >= i, or ``size`` when none (a sentinel)."""
    table = [size] * (size + 1)
    nxt = size
    for i in range(size - 1, -1, -1):
        if i in values:
            nxt = i
        table[i] = nxt
    return tuple(table)


class Matcher:
    """Finds matching minutes of one :class:`CronSpec`; shared by every entry with that spec.

    Each field is a "next allowed value at or after i" table, so a search is a few list
    lookups; the day table of a month is built once per (year, month) and cached.
    """

    __slots__ = ("_days", "_next_hour", "_next_minute", "_next_month", "spec")

    def __init__(self, spec: CronSpec) -> None:
        self.spec = spec
        self._next_minute = _next_table(spec.minutes, 60)
        self._next_hour = _next_table(spec.hours, 24)
        self._next_month = _next_table(spec.months, 13)
        self._days: dict[int, tuple[int, ...]] = {}

    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of ``year``-``month``, sorted."""
        return tuple(d for d in range(1, 32) if self._day_table(year, month)[d] == d)

    def _day_table(self, year: int, month: int) -> tuple[int, ...]:
        """Next matching day at or after d (index 0-32) in the month; 0 when none."""
        key = year * 16 + month
        found = self._days.get(key)
        if found is None:
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()  # bounded memory in a long-running daemon
            days = _month_days(self.spec, year, month)
            table = [0] * 33
            nxt = 0
            for d in range(32, 0, -1):
                if d in days:
                    nxt = d
                table[d] = nxt
            table[0] = nxt
            found = self._days[key] = tuple(table)
        return found

    def first_from(self, start: datetime) -> datetime | None:
        """The first matching minute at or after ``start`` (naive, minute-aligned)."""
        found = self.first_fields(start.year, start.month, start.day, start.hour, start.minute)
        return None if found is None else datetime(*found)

    def first_fields(
        self, y: int, mo: int, d: int, h: int, mi: int
    ) -> tuple[int, int, int, int, int] | None:
        """:meth:`first_from` on plain fields, which may overflow (minute 60, hour 24, day
        32, month 13): the hot path adds one minute without building a datetime."""
        next_month, next_hour, next_minute = self._next_month, self._next_hour, self._next_minute
        end = min(y + _HORIZON_YEARS, _MAX_YEAR + 1)
        while y < end:
            month = next_month[mo]
            if month == 13:
                y, mo, d, h, mi = y + 1, 1, 1, 0, 0
                continue
            if month != mo:
                mo, d, h, mi = month, 1, 0, 0
            day = self._day_table(y, mo)[d]
            if day == 0:
                mo, d, h, mi = mo + 1, 1, 0, 0
                continue
            if day != d:
                d, h, mi = day, 0, 0
            hour = next_hour[h]
            if hour == 24:
                d, h, mi = d + 1, 0, 0
                continue
            if hour != h:
                h, mi = hour, 0
            minute = next_minute[mi]
            if minute == 60:
                h, mi = h + 1, 0
                continue
            return y, mo, d, h, minute
        return None


def _nearest_weekday(day: int, last: int, weekday_of: list[int]) -> int:
    """``15W``: the weekday nearest ``day`` within the month (Quartz semantics)."""
    wd = weekday_of[day]
    if wd == 6:  # Saturday: Friday before, or Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if wd == 0:  # Sunday: Monday after, or Friday before when it is the last day
        return day + 1 if day < last else day - 2
    return day


def _month_days(spec: CronSpec, year: int, month: int) -> tuple[int, ...]:
    first_wd, last = calendar.monthrange(year, month)
    first = (first_wd + 1) % 7  # cron numbering: 0 = Sunday
    weekday_of = [0] + [(first + i) % 7 for i in range(last)]  # 1-based days
    dom = {d for d in spec.dom_values if d <= last}
    if spec.dom_last:
        dom.add(last)
    if spec.dom_last_weekday:
        dom.add(_nearest_weekday(last, last, weekday_of))
    for day in spec.dom_nearest_weekday:
        if day <= last:
            dom.add(_nearest_weekday(day, last, weekday_of))
    dow = {
        d
        for d in range(1, last + 1)
        if weekday_of[d] in spec.dow_values
        or (d + 7 > last and weekday_of[d] in spec.dow_last)
        or (weekday_of[d], (d - 1) // 7 + 1) in spec.dow_nth
    }
    # Vixie rule: a "*"-based day field means "both must match", otherwise either may.
    chosen = dom & dow if spec.day_and else dom | dow
    return tuple(sorted(chosen))
