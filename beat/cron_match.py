"""The fast search: first matching local wall-clock minute at or after a given one.

Works on naive local minutes only; DST is the caller's business (beat/cron_dst.py). Each
field is a sorted tuple searched with ``bisect``, and the matching days of a month are
computed once per (year, month) and cached, so a search is a handful of bisects rather than
a minute-by-minute walk.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from datetime import datetime

from beat.cron_fields import CronSpec

# The Gregorian calendar (weekdays included) repeats every 400 years: a day pattern with no
# match in 401 years never matches.
_HORIZON_YEARS = 401
_MAX_YEAR = 9999  # datetime's limit
_DAY_CACHE_LIMIT = 4096


class Matcher:
    """Finds matching minutes of one :class:`CronSpec`; shared by every entry with that spec."""

    __slots__ = ("_days", "hours", "minutes", "months", "spec")

    def __init__(self, spec: CronSpec) -> None:
        self.spec = spec
        self.minutes = spec.minutes
        self.hours = spec.hours
        self.months = spec.months
        self._days: dict[tuple[int, int], tuple[int, ...]] = {}

    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of ``year``-``month``, sorted."""
        key = (year, month)
        found = self._days.get(key)
        if found is None:
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()  # bounded memory in a long-running daemon
            found = self._days[key] = _month_days(self.spec, year, month)
        return found

    def first_from(self, start: datetime) -> datetime | None:
        """The first matching minute at or after ``start`` (naive, minute-aligned)."""
        y, mo, d, h, mi = start.year, start.month, start.day, start.hour, start.minute
        months, hours, minutes = self.months, self.hours, self.minutes
        end = min(y + _HORIZON_YEARS, _MAX_YEAR + 1)
        while y < end:
            i = bisect_left(months, mo)
            if i == len(months):
                y, mo, d, h, mi = y + 1, months[0], 1, 0, 0
                continue
            if months[i] != mo:
                mo, d, h, mi = months[i], 1, 0, 0
            days = self.days(y, mo)
            j = bisect_left(days, d)
            if j == len(days):
                mo, d, h, mi = mo + 1, 1, 0, 0
                continue
            if days[j] != d:
                d, h, mi = days[j], 0, 0
            k = bisect_left(hours, h)
            if k == len(hours):
                d, h, mi = d + 1, 0, 0
                continue
            if hours[k] != h:
                h, mi = hours[k], 0
            n = bisect_left(minutes, mi)
            if n == len(minutes):
                h, mi = h + 1, 0
                continue
            return datetime(y, mo, d, h, minutes[n])
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
