"""A Celery ``crontab(...)`` as a cron expression with the same fires.

Each field is expanded to its set of values the way Celery 5 does (celery/schedules.py,
``crontab_parser``: ``*``, ``n``, ``a-b`` -- wrapping past the end when ``b < a`` --, ``*/s``,
``a-b/s``, comma lists; day names by their first three letters in any field; ints and
iterables of ints), then written back as cron text from the set. Writing from the set, not
copying the text, keeps Celery's meaning where cron's differs: ``5-2`` wraps, a list naming
every day is "every day" (``*``), and ``sun`` is 0 in both.

Celery fires only on days matching *both* ``day_of_month`` and ``day_of_week``; cron (the
Vixie rule beat follows) fires on days matching *either* when both are restricted. That
combination is therefore refused, except where cron's ``n#k`` says the same thing: days of
month made of whole weeks (1-7, 8-14, 15-21, 22-28, 29-31) with any weekdays ("the first and
third Monday" is ``1#1,1#3``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CronRefused", "crontab_to_cron"]

# (field, lowest, count) in cron's order.
_FIELDS = (
    ("minute", 0, 60),
    ("hour", 0, 24),
    ("day_of_month", 1, 31),
    ("month_of_year", 1, 12),
    ("day_of_week", 0, 7),
)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# A step needs ``*`` or a range: Celery refuses ``5/2`` (cron reads it as ``5-max/2``).
_PART = re.compile(r"(\*)(?:/(\d+))?|(\w+)(?:-(\w+)(?:/(\d+))?)?")
_WEEKS = {1: range(1, 8), 2: range(8, 15), 3: range(15, 22), 4: range(22, 29), 5: range(29, 32)}


class CronRefused(ValueError):
    """A crontab with no cron equivalent: ``field`` and why."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


def crontab_to_cron(fields: Mapping[str, Any]) -> str:
    """The cron expression of ``crontab(**fields)``; raises CronRefused."""
    values = {
        name: _expand(name, fields.get(name, "*"), low, count) for name, low, count in _FIELDS
    }
    texts = {name: _text(values[name], low, count) for name, low, count in _FIELDS}
    if texts["day_of_month"] != "*" and texts["day_of_week"] != "*":
        texts["day_of_month"] = "*"
        texts["day_of_week"] = _nth_weekdays(values["day_of_month"], values["day_of_week"])
    return " ".join(texts[name] for name, _low, _count in _FIELDS)


def _expand(field: str, spec: Any, low: int, count: int) -> set[int]:
    if spec is None:
        spec = "*"
    if isinstance(spec, bool):
        raise CronRefused(field, f"{spec!r} is not a crontab value")
    if isinstance(spec, int):
        result = {spec}
    elif isinstance(spec, str):
        result = set()
        for part in spec.split(","):
            result |= _expand_part(field, part.strip(), low, count)
    elif isinstance(spec, Iterable) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in spec
    ):
        result = set(spec)
    else:
        raise CronRefused(field, f"{spec!r}: expected an int, a string or a list of ints")
    out_of_range = sorted(v for v in result if not low <= v < low + count)
    if out_of_range:
        raise CronRefused(field, f"{out_of_range[0]} is out of range {low}-{low + count - 1}")
    if not result:
        raise CronRefused(field, "no values")
    return result


def _expand_part(field: str, part: str, low: int, count: int) -> set[int]:
    match = _PART.fullmatch(part)
    if match is None:
        raise CronRefused(
            field, f"{part!r} is not a crontab pattern (a step needs * or a range: */2, 5-23/2)"
        )
    star, star_step, first, last, range_step = match.groups()
    step = star_step or range_step
    if star:
        values = list(range(low, low + count))
    else:
        start = _number(field, first)
        end = start if last is None else _number(field, last)
        if end < start:  # Celery wraps: 5-2 is 5, 6, 0, 1, 2
            values = [*range(start, low + count), *range(low, end + 1)]
        else:
            values = list(range(start, end + 1))
    if step is not None:
        if int(step) == 0:
            raise CronRefused(field, f"{part!r}: a step of 0")
        values = values[:: int(step)]
    return set(values)


def _number(field: str, text: str) -> int:
    if text.isdigit():
        return int(text)
    name = text[:3].lower()
    if name in _DAY_NAMES:
        return _DAY_NAMES.index(name)
    raise CronRefused(field, f"{text!r} is neither a number nor a day name")


def _text(values: set[int], low: int, count: int) -> str:
    """Cron text for exactly ``values``: ``*``, ``*/s`` or a list of ranges and numbers."""
    ordered = sorted(values)
    if len(ordered) == count:
        return "*"
    if len(ordered) > 2 and ordered[0] == low:
        step = ordered[1] - ordered[0]
        if ordered == list(range(low, low + count, step)):
            return f"*/{step}"
    items: list[str] = []
    run = [ordered[0]]
    for value in ordered[1:]:
        if value == run[-1] + 1:
            run.append(value)
            continue
        items.append(_run_text(run))
        run = [value]
    items.append(_run_text(run))
    return ",".join(items)


def _run_text(run: list[int]) -> str:
    if len(run) >= 3:
        return f"{run[0]}-{run[-1]}"
    return ",".join(str(v) for v in run)


def _nth_weekdays(days_of_month: set[int], days_of_week: set[int]) -> str:
    """``d#k`` items for "weekday d in week k of the month" when the days of month are whole
    weeks; else CronRefused (Celery's AND of the two day fields has no other cron form)."""
    weeks = [k for k, days in _WEEKS.items() if set(days) <= days_of_month]
    if set().union(*(_WEEKS[k] for k in weeks)) != days_of_month:
        raise CronRefused(
            "day_of_week",
            "Celery fires on days matching both day_of_month and day_of_week, cron on days "
            "matching either; only whole weeks of the month (1-7, 8-14, ...) with weekdays "
            "map (to cron's n#k)",
        )
    return ",".join(f"{d}#{k}" for d in sorted(days_of_week) for k in weeks)
