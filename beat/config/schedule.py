"""The schedule of one entry: exactly one of ``cron``, ``every`` (with ``start``),
``calendar``, ``at`` or ``solar``, checked and built in the entry's zone, then bounded by
``start``/``end`` (:func:`_bounded`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from zoneinfo import ZoneInfo

from beat.config.checker import Checker
from beat.config.keys import CALENDAR_KEYS, ENTRY_KEYS, SCHEDULE_KINDS, SOLAR_KEYS
from beat.entries import Schedule
from beat.errors import ScheduleError
from beat.time.bounds import Bounded
from beat.time.durations import parse_calendar_step
from beat.time.schedules import Calendar, Cron, Interval, Once, shared_cron
from taskqueue.config_text import describe, did_you_mean

if TYPE_CHECKING:
    # Imported by the builder of their kind (issue 17): a configuration without a solar entry
    # does not import beat.time.solar, one without cron, calendar or at entries not the cron
    # modules (beat.time.cron_dst resolves wall-clock instants).
    from beat.time.solar import Solar

_AnySchedule: TypeAlias = "Cron | Interval | Calendar | Once | Solar | Bounded"
_Builder: TypeAlias = Callable[
    [Checker, str, Mapping[Any, Any], str, ZoneInfo], "_AnySchedule | None"
]
_ONE_OF = "cron, every, calendar, at, solar"
# Compiled by re on first use (its cache): only calendar entries have a clock time.
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"


def check_schedule(
    checker: Checker,
    name: str,
    data: Mapping[Any, Any],
    line: int | None,
    path: str,
    zone: ZoneInfo,
) -> Schedule | None:
    """The entry's schedule, or None after reporting why there is none."""
    kind = _the_kind(checker, data, line, path)
    if kind is None:
        return None
    build = _BUILDERS[kind]
    try:
        built = build(checker, name, data, path, zone)
    except ScheduleError as e:
        _schedule_error(checker, data, path, kind, e)
        return None
    except (ValueError, ArithmeticError) as e:
        checker.report(checker.line_of(data, kind), f"{path}.{kind}", str(e) or type(e).__name__)
        return None
    if built is not None and ("end" in data or ("start" in data and kind != "every")):
        built = _bounded(checker, built, data, path, zone, kind)
    # The frozen dataclasses' read-only `zone` does not match the protocol's settable
    # attribute for mypy, though every use only reads it.
    return cast("Schedule | None", built)


def _the_kind(checker: Checker, data: Mapping[Any, Any], line: int | None, path: str) -> str | None:
    """The one schedule kind ``data`` gives, or None after reporting none, several, or a
    ``start`` that does not belong."""
    kinds: list[str] = [k for k in data if k in SCHEDULE_KINDS]  # in file order
    if not kinds:
        # A misspelled kind ("evry") is already reported with its suggestion.
        misspelled = any(
            did_you_mean(str(key), SCHEDULE_KINDS) for key in data if key not in ENTRY_KEYS
        )
        if not misspelled:
            checker.report(line, path, f"no schedule: give one of {_ONE_OF}")
        return None
    if len(kinds) > 1:
        named = ", ".join(repr(k) for k in kinds[:-1]) + f" and {kinds[-1]!r}"
        verb = "are both given" if len(kinds) == 2 else "are all given"
        checker.report(
            checker.line_of(data, kinds[1]), path, f"{named} {verb}: use exactly one of {_ONE_OF}"
        )
        return None
    return kinds[0]


def _schedule_error(
    checker: Checker, data: Mapping[Any, Any], path: str, kind: str, error: ScheduleError
) -> None:
    # A cron error names a part of the expression ("minute: 60 is out of range 0-59") and
    # points at the cron key; other errors name a key (every, start, at, calendar.every)
    # and point at that key's line.
    if error.where == kind:
        checker.report(checker.line_of(data, kind), f"{path}.{kind}", error.problem)
        return
    if kind != "cron":
        nested = data[kind] if kind == "calendar" else None
        holder = nested if isinstance(nested, Mapping) else data
        base = f"{path}.calendar" if holder is nested else path
        if error.where in holder:
            checker.report(
                checker.line_of(holder, error.where), f"{base}.{error.where}", error.problem
            )
            return
    checker.report(checker.line_of(data, kind), f"{path}.{kind}", str(error))


def _cron(
    checker: Checker, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
) -> _AnySchedule | None:
    expr = checker.string(data, "cron", path, "a cron expression like '30 2 * * *'")
    return None if expr is None else shared_cron(expr, zone, name)


def _every(
    checker: Checker, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
) -> _AnySchedule | None:
    every = checker.duration(data, "every", path)
    start = None
    if "start" in data and data["start"] is not None:
        start = instant(checker, data, "start", path, zone)
        if start is None:
            return None
    return None if every is None else _shared_interval(every, start, zone)


@lru_cache(maxsize=4096)
def _shared_interval(every: timedelta, start: datetime | None, zone: ZoneInfo) -> Interval:
    # Schedules are immutable: entries with the same interval share one object.
    return Interval(every, start, zone)


def _once(
    checker: Checker, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
) -> _AnySchedule | None:
    value = data["at"]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            value = data["at"]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return Once.from_local(value, zone)
        return Once(value, zone)
    checker.report(
        checker.line_of(data, "at"),
        f"{path}.at",
        f"expected a date and time like 2026-12-01T09:00 (local) or "
        f"2026-12-01T09:00:00Z, got {describe(value)}",
    )
    return None


def _section(
    checker: Checker,
    data: Mapping[Any, Any],
    key: str,
    where: str,
    keys: tuple[str, ...],
    required: dict[str, str],
) -> Mapping[Any, Any] | None:
    """The mapping under ``key``, a schedule kind written ``{keys}`` that must have each of
    ``required`` (shown with an example value). Unknown and missing keys are reported; None,
    after reporting, when it is not a mapping."""
    raw = data[key]
    if not isinstance(raw, Mapping):
        line, shape = checker.line_of(data, key), ", ".join(keys)
        checker.report(line, where, f"expected a mapping {{{shape}}}, got {describe(raw)}")
        return None
    checker.unknown_keys(raw, keys, where)
    line = checker.line_of(data, key)
    for name, example in required.items():
        if name not in raw:
            checker.report(line, where, f"missing required key {name!r} (e.g. {name}: {example})")
    return raw


def _calendar(
    checker: Checker, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
) -> _AnySchedule | None:
    where = f"{path}.calendar"
    before = len(checker.problems)
    required = {"every": "2w", "start": "2026-01-05"}
    raw = _section(checker, data, "calendar", where, CALENDAR_KEYS, required)
    if raw is None:
        return None
    step = _calendar_step(checker, raw, where) if "every" in raw else None
    at = time(0, 0)
    if "at" in raw:
        at = clock(checker, raw, "at", where) or at
    start = day(checker, raw, "start", where) if "start" in raw else None
    if len(checker.problems) > before or step is None or start is None:
        return None
    count, unit = step
    return Calendar(count, unit, at, start, zone)


def _calendar_step(checker: Checker, raw: Mapping[Any, Any], where: str) -> tuple[int, str] | None:
    try:
        return parse_calendar_step(raw["every"], f"{where}.every")
    except ValueError as e:
        checker.report(
            checker.line_of(raw, "every"),
            f"{where}.every",
            str(e).removeprefix(f"{where}.every: "),
        )
        return None


# --- dates and times ------------------------------------------------------------------------


def _wrong(checker: Checker, data: Mapping[Any, Any], key: str, path: str, expected: str) -> None:
    """Report ``data[key]`` as not what was ``expected``; the parsers then return None."""
    checker.report(
        checker.line_of(data, key),
        f"{path}.{key}",
        f"expected {expected}, got {describe(data[key])}",
    )


def instant(
    checker: Checker, data: Mapping[Any, Any], key: str, path: str, zone: ZoneInfo
) -> datetime | None:
    """An aware instant; naive values (and dates, as midnight) are local to ``zone``."""
    value = data[key]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value
        from beat.time.cron_dst import resolve_fixed

        return resolve_fixed(value, zone)
    _wrong(checker, data, key, path, "a date-time like 2026-01-01T00:00:00Z")
    return None


def clock(checker: Checker, data: Mapping[Any, Any], key: str, path: str) -> time | None:
    value = data[key]
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    match = re.fullmatch(_CLOCK, value.strip()) if isinstance(value, str) else None
    if match is not None:
        hour, minute, second = (int(g) if g else 0 for g in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return time(hour, minute, second)
    _wrong(checker, data, key, path, 'a local time like "09:30"')
    return None


def day(checker: Checker, data: Mapping[Any, Any], key: str, path: str) -> date | None:
    value = data[key]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    _wrong(checker, data, key, path, "a date like 2026-01-05")
    return None


# --- start/end bounds (any kind) and solar ----------------------------------------------------


def _bounded(
    checker: Checker,
    built: _AnySchedule,
    data: Mapping[Any, Any],
    path: str,
    zone: ZoneInfo,
    kind: str,
) -> _AnySchedule | None:
    """``built`` with no fire before ``start`` or after ``end``. For ``every``, ``start`` is
    the interval's anchor (its first fire), already a lower bound: only ``end`` is added."""
    start = None
    if kind != "every" and data.get("start") is not None:
        start = instant(checker, data, "start", path, zone)
        if start is None:
            return None
    end = None
    if data.get("end") is not None:
        end = instant(checker, data, "end", path, zone)
        if end is None:
            return None
    lower = start if kind != "every" else getattr(built, "start", None)
    if end is not None and lower is not None and end < lower:
        checker.report(
            checker.line_of(data, "end"),
            f"{path}.end",
            f"{end.isoformat()} is before start {lower.isoformat()}: the entry would never fire",
        )
        return None
    if start is None and end is None:
        return built
    return Bounded(cast("Schedule", built), start, end)


def _solar(
    checker: Checker, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
) -> _AnySchedule | None:
    """``solar: {event: sunrise, lat: 52.52, lon: 13.40}``."""
    from beat.time.solar import EVENTS, Solar

    where = f"{path}.solar"
    before = len(checker.problems)
    required = {"event": "sunrise", "lat": "52.52", "lon": "13.40"}
    raw = _section(checker, data, "solar", where, SOLAR_KEYS, required)
    if raw is None:
        return None
    event = checker.choice(raw, "event", where, list(EVENTS)) if "event" in raw else None
    lat = _degrees(checker, raw, "lat", where, 90) if "lat" in raw else None
    lon = _degrees(checker, raw, "lon", where, 180) if "lon" in raw else None
    if len(checker.problems) > before or event is None or lat is None or lon is None:
        return None
    return Solar(event, lat, lon, zone)


def _degrees(
    checker: Checker, raw: Mapping[Any, Any], key: str, where: str, limit: int
) -> float | None:
    value = raw[key]
    if isinstance(value, int | float) and not isinstance(value, bool) and -limit <= value <= limit:
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
        if number is not None and -limit <= number <= limit:
            return number
    checker.report(
        checker.line_of(raw, key),
        f"{where}.{key}",
        f"expected degrees between -{limit} and {limit}, got {describe(value)}",
    )
    return None


_BUILDERS: dict[str, _Builder] = {
    "cron": _cron,
    "every": _every,
    "calendar": _calendar,
    "at": _once,
    "solar": _solar,
}
