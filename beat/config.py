"""``schedules.yaml`` -> a validated :class:`Config`, every problem reported with its line.

The file is composed into PyYAML's node tree (libyaml's C parser when available) and walked
once: mappings become :class:`dict` subclasses that remember the line of each key, so one
validator serves both the YAML file (problems carry line numbers) and plain Python mappings
from the SQL source (:func:`validate_entry`, line None). Validation never stops at the first
problem: :class:`~beat.errors.ConfigError` lists all of them.

Choices the SPEC leaves open (also in the README):

* Entry names: 1-200 characters from ``A-Z a-z 0-9 _ . : @ -`` (they appear in message ids,
  logs and metrics labels, so no spaces or slashes).
* ``at:`` and a naive ``start:`` are local wall-clock times in the entry's zone; a value with a
  UTC offset (``Z``, ``+02:00``) is that instant. A naive ``start:`` in a DST gap means the
  instant of the change, in a repeated hour its first pass (the fixed-time rule). A date-only
  ``start:`` is local midnight.
* ``calendar:`` needs ``every`` (``1d``, ``2w``, ``3mo``, ``1y``) and ``start`` (a date);
  ``at`` defaults to ``00:00``.
* YAML 1.1 sexagesimal numbers are not applied: ``at: 9:30`` is the string ``"9:30"``, not 570.
* ``defaults:`` may set ``queue``, ``catch_up``, ``grace`` and ``options`` (merged per option).
* ``timezone: localtime`` is refused: the host's zone is never used.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from math import isfinite
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import yaml

from beat.entries import DEFAULT_GRACE, DEFAULT_QUEUE, CatchUp, Entry, Schedule, TaskOptions
from beat.errors import ConfigError, Problem, ScheduleError
from beat.messages import largest_message_size
from beat.suggest import did_you_mean
from beat.time import zones
from beat.time.cron_dst import resolve_fixed
from beat.time.durations import (
    format_calendar_step,
    format_duration,
    parse_calendar_step,
    parse_duration,
)
from beat.time.schedules import Calendar, Cron, Interval, Once
from daemonkit.yaml_tree import (
    Lined,
    LinedList,
    TreeBuilder,
    YamlLimitExceeded,
    read_yaml_bytes,
    segment,
    yaml_error_line,
    yaml_error_message,
)
from taskqueue.config_keys import WORKER_KEYS, command_setting_problems
from taskqueue.message import MAX_MESSAGE_BYTES, json_size_floor

_AnySchedule = Cron | Interval | Calendar | Once

__all__ = ["Config", "entry_to_mapping", "load_config", "validate_entry"]

UTC_ZONE = zones.get("UTC")
_NO_OPTIONS = TaskOptions()
TOP_KEYS = (
    "timezone",
    "broker",
    "imports",
    "source",
    "defaults",
    "entries",
    "worker",
    "beat",
    "metrics_port",
    "log_format",
)
SCHEDULE_KINDS = ("cron", "every", "calendar", "at")
ENTRY_KEYS = (
    "task",
    *SCHEDULE_KINDS,
    "start",
    "timezone",
    "queue",
    "args",
    "kwargs",
    "options",
    "catch_up",
    "grace",
    "enabled",
)
DEFAULT_KEYS = ("queue", "catch_up", "grace", "options")
OPTION_KEYS = (
    "priority",
    "expires",
    "soft_time_limit",
    "time_limit",
    "max_retries",
    "retry_backoff",
    "retry_backoff_max",
)
OPTION_DURATIONS = frozenset(
    ("expires", "soft_time_limit", "time_limit", "retry_backoff", "retry_backoff_max")
)
CALENDAR_KEYS = ("every", "at", "start")
BEAT_KEYS = ("state", "lookahead", "leader_lease", "loglevel")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
# Deeper args/kwargs are surely a mistake (or an alias bomb), and would exhaust the stack.
_MAX_DEPTH = 100
# Zone names that resolve to the host's own zone: the SPEC forbids depending on it.
_HOST_ZONES = frozenset(("localtime", "posixrules"))


@dataclass(frozen=True, slots=True)
class Config:
    """A validated ``schedules.yaml``."""

    path: Path  # resolved
    timezone: ZoneInfo = UTC_ZONE
    broker_url: str = ""
    imports: tuple[str, ...] = ()
    source: str = "yaml"  # "yaml" or a database URL (the SQL schedule source)
    # Validated `defaults:` (durations as timedelta); accepted back by validate_entry.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)  # in file order
    worker: Mapping[str, Any] = field(default_factory=dict)  # raw `worker:` (checked)
    beat: Mapping[str, Any] = field(default_factory=dict)  # `beat:`, durations as timedelta
    metrics_port: int | None = None
    log_format: str = "text"


# --- values -----------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if type(value) is Lined or isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"{type(value).__name__} {value!r}"


class _NotJSON(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def _plain(value: Any, where: str, depth: int = 0) -> Any:
    """A deep copy of a YAML value as plain JSON types (args, kwargs, worker section)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not isfinite(value):
            raise _NotJSON(where, f"{value!r} cannot be sent in a JSON message")
        return value
    if depth > _MAX_DEPTH:
        raise _NotJSON(where, f"nested more than {_MAX_DEPTH} levels deep")
    if type(value) is Lined or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJSON(where, f"keys must be strings, got {_kind(key)}")
            out[key] = _plain(item, f"{where}.{segment(key)}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, date | time):
        raise _NotJSON(where, f"{_kind(value)} is not JSON; quote it to send it as a string")
    raise _NotJSON(where, f"{_kind(value)} cannot be sent in a JSON message")


@functools.cache
def _key_set(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


@functools.cache
def _known_zones() -> tuple[str, ...]:
    return tuple(sorted(zones.available() - _HOST_ZONES))


# --- the validator ----------------------------------------------------------------------------


class _Checker:
    """Collects problems. Lines come from :class:`Lined` mappings; plain mappings give None."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def report(self, line: int | None, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, path, message))

    @staticmethod
    def line_of(mapping: Any, key: Any = None) -> int | None:
        if isinstance(mapping, Lined):
            return mapping.key_lines.get(key, mapping.line)
        if isinstance(mapping, LinedList):
            return mapping.line
        return None

    def mapping(self, value: Any, line: int | None, path: str, what: str) -> Mapping[Any, Any]:
        """``value`` if it is a mapping (None counts as empty), else a problem and ``{}``."""
        if value is None:
            return {}
        if type(value) is Lined or isinstance(value, Mapping):
            return value
        self.report(line, path, f"expected a mapping of {what}, got {_kind(value)}")
        return {}

    def unknown_keys(self, data: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
        allowed_set = _key_set(allowed)
        for key in data:
            if key not in allowed_set:
                text = str(key)
                self.report(
                    self.line_of(data, key),
                    path,
                    f"unknown key {text!r}{did_you_mean(text, allowed)}",
                )

    def string(
        self, data: Mapping[Any, Any], key: str, path: str, what: str = "a string"
    ) -> str | None:
        value = data[key]
        if isinstance(value, str) and value.strip():
            return value
        self.report(
            self.line_of(data, key),
            f"{path}.{key}" if path else key,
            f"expected {what}, got {_kind(value)}",
        )
        return None

    def duration(
        self, data: Mapping[Any, Any], key: str, path: str, *, allow_zero: bool = False
    ) -> timedelta | None:
        where = f"{path}.{key}" if path else key
        try:
            return parse_duration(data[key], where, allow_zero=allow_zero)
        except ValueError as e:
            # parse_duration names the field; the path is already in the Problem.
            self.report(self.line_of(data, key), where, str(e).removeprefix(f"{where}: "))
            return None

    def zone(self, data: Mapping[Any, Any], key: str, path: str) -> ZoneInfo | None:
        value = data[key]
        where = f"{path}.{key}" if path else key
        line = self.line_of(data, key)
        if not isinstance(value, str) or not value:
            self.report(
                line, where, f"expected a time zone name like Europe/Berlin, got {_kind(value)}"
            )
            return None
        if value in _HOST_ZONES:
            self.report(
                line, where, f"{value!r} is the host's zone; name an IANA zone like Europe/Berlin"
            )
            return None
        try:
            return zones.get(value)
        except (zones.ZoneInfoNotFoundError, ValueError, OSError):
            self.report(
                line, where, f"unknown time zone {value!r}{did_you_mean(value, _known_zones())}"
            )
            return None

    def choice(
        self, data: Mapping[Any, Any], key: str, path: str, choices: Sequence[str]
    ) -> str | None:
        value = data[key]
        if isinstance(value, str) and value in choices:
            return value
        where = f"{path}.{key}" if path else key
        options = ", ".join(choices)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        self.report(
            self.line_of(data, key), where, f"expected one of {options}, got {_kind(value)}{hint}"
        )
        return None

    def integer(
        self, data: Mapping[Any, Any], key: str, path: str, low: int, high: int | None = None
    ) -> int | None:
        value = data[key]
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and value >= low and (high is None or value <= high):
            return int(value)
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        where = f"{path}.{key}" if path else key
        self.report(
            self.line_of(data, key), where, f"expected a whole number {bounds}, got {_kind(value)}"
        )
        return None

    # --- sections ---------------------------------------------------------------------------

    def options(self, data: Mapping[Any, Any], path: str) -> dict[str, Any]:
        """The valid options of an ``options:`` mapping, durations parsed."""
        self.unknown_keys(data, OPTION_KEYS, path)
        out: dict[str, Any] = {}
        for key in OPTION_KEYS:
            if key not in data:
                continue
            if key in OPTION_DURATIONS:
                value: Any = self.duration(data, key, path)
            elif key == "priority":
                value = self.integer(data, key, path, 0, 9)
            else:
                value = self.integer(data, key, path, 0)
            if value is not None:
                out[key] = value
        return out

    def defaults(self, data: Any, line: int | None) -> dict[str, Any]:
        """The valid keys of ``defaults:``; problems are reported once, under ``defaults``."""
        section = self.mapping(data, line, "defaults", "entry defaults")
        self.unknown_keys(section, DEFAULT_KEYS, "defaults")
        out: dict[str, Any] = {}
        if "queue" in section and (queue := self.queue(section, "defaults")) is not None:
            out["queue"] = queue
        if "catch_up" in section:
            catch_up = self.choice(section, "catch_up", "defaults", [c.value for c in CatchUp])
            if catch_up is not None:
                out["catch_up"] = CatchUp(catch_up)
        if "grace" in section and (grace := self.duration(section, "grace", "defaults")):
            out["grace"] = grace
        if "options" in section:
            raw = self.mapping(
                section["options"],
                self.line_of(section, "options"),
                "defaults.options",
                "task options",
            )
            out["options"] = self.options(raw, "defaults.options")
        return out

    def queue(self, data: Mapping[Any, Any], path: str) -> str | None:
        value = data["queue"]
        if isinstance(value, str) and _NAME.fullmatch(value):
            return value
        self.report(
            self.line_of(data, "queue"),
            f"{path}.queue",
            f"expected a queue name (letters, digits, _ . : @ -), got {_kind(value)}",
        )
        return None

    def entry(
        self,
        name: Any,
        data: Any,
        line: int | None,
        zone: ZoneInfo,
        defaults: Mapping[str, Any],
        source: str,
    ) -> Entry | None:
        """One entry, or None after reporting why it is invalid."""
        path = f"entries.{segment(name)}"
        before = len(self.problems)
        if not isinstance(name, str):
            self.report(
                line, "entries", f"entry name must be a string, got {_kind(name)} (quote it)"
            )
            return None
        if not _NAME.fullmatch(name):
            self.report(
                line, path, f"invalid entry name {name!r}: use 1-200 letters, digits and _ . : @ -"
            )
        if type(data) is not Lined and not isinstance(data, Mapping):
            self.report(line, path, f"expected a mapping of entry settings, got {_kind(data)}")
            return None
        self.unknown_keys(data, ENTRY_KEYS, path)

        task = None
        if "task" not in data:
            self.report(line, path, "missing required key 'task' (the task name to send)")
        else:
            task = self.string(data, "task", path, "a task name")
        if "timezone" in data:
            zone = self.zone(data, "timezone", path) or zone
        schedule = self.schedule(name, data, line, path, zone)

        queue = defaults.get("queue", DEFAULT_QUEUE)
        if "queue" in data:
            queue = self.queue(data, path) or queue
        args: tuple[Any, ...] = ()
        if "args" in data:
            args = self.args(data, path)
        kwargs: dict[str, Any] = {}
        if "kwargs" in data:
            kwargs = self.kwargs(data, path)
        options = self.merged_options(data, path, defaults.get("options") or {})
        catch_up = CatchUp(defaults.get("catch_up", CatchUp.LATEST))
        if "catch_up" in data:
            chosen = self.choice(data, "catch_up", path, [c.value for c in CatchUp])
            catch_up = CatchUp(chosen) if chosen is not None else catch_up
        grace = defaults.get("grace", DEFAULT_GRACE)
        if "grace" in data:
            grace = self.duration(data, "grace", path) or grace
        enabled = True
        if "enabled" in data:
            if isinstance(data["enabled"], bool):
                enabled = data["enabled"]
            else:
                self.report(
                    self.line_of(data, "enabled"),
                    f"{path}.enabled",
                    f"expected true or false, got {_kind(data['enabled'])}",
                )

        if len(self.problems) > before or task is None or schedule is None:
            return None
        entry = Entry(
            name=name,
            task=task,
            schedule=schedule,
            queue=queue,
            args=args,
            kwargs=kwargs,
            options=options,
            catch_up=catch_up,
            grace=grace,
            enabled=enabled,
            source=source,
        )
        return entry if self.sendable(entry, data, path) else None

    def sendable(self, entry: Entry, data: Mapping[Any, Any], path: str) -> bool:
        """Whether every message of ``entry`` fits the broker's size limit; else a problem
        naming the larger of args and kwargs (the rest of a message is small and bounded)."""
        size = largest_message_size(entry)
        if size <= MAX_MESSAGE_BYTES:
            return True
        key = "kwargs" if json_size_floor(entry.kwargs) >= json_size_floor(entry.args) else "args"
        where, line = path, self.line_of(data)
        if key in data:
            where, line = f"{path}.{key}", self.line_of(data, key)
        self.report(
            line,
            where,
            f"too large to send: its largest message would be {size} bytes, over the limit "
            f"of {MAX_MESSAGE_BYTES} bytes",
        )
        return False

    def args(self, data: Mapping[Any, Any], path: str) -> tuple[Any, ...]:
        value = data["args"]
        line = self.line_of(data, "args")
        if not isinstance(value, list | tuple):
            self.report(line, f"{path}.args", f"expected a list, got {_kind(value)}")
            return ()
        try:
            return tuple(_plain(value, f"{path}.args"))
        except _NotJSON as e:
            self.report(line, e.where, e.message)
            return ()

    def kwargs(self, data: Mapping[Any, Any], path: str) -> dict[str, Any]:
        value = data["kwargs"]
        line = self.line_of(data, "kwargs")
        if type(value) is not Lined and not isinstance(value, Mapping):
            self.report(
                line, f"{path}.kwargs", f"expected a mapping of names to values, got {_kind(value)}"
            )
            return {}
        try:
            plain: dict[str, Any] = _plain(value, f"{path}.kwargs")
        except _NotJSON as e:
            self.report(line, e.where, e.message)
            return {}
        return plain

    def merged_options(
        self, data: Mapping[Any, Any], path: str, defaults: Mapping[str, Any]
    ) -> TaskOptions:
        own: dict[str, Any] = {}
        if "options" in data:
            raw = self.mapping(
                data["options"], self.line_of(data, "options"), f"{path}.options", "task options"
            )
            own = self.options(raw, f"{path}.options")
        else:
            raw = {}
        if not own and not defaults:
            return _NO_OPTIONS
        merged = {**defaults, **own}
        soft, hard = merged.get("soft_time_limit"), merged.get("time_limit")
        if soft is not None and hard is not None and hard < soft:
            key = "time_limit" if "time_limit" in raw else "soft_time_limit"
            line = self.line_of(raw, key) if key in raw else self.line_of(data, "options")
            self.report(
                line if line is not None else self.line_of(data),
                f"{path}.options.{key}",
                f"time_limit ({format_duration(hard)}) must not be shorter than "
                f"soft_time_limit ({format_duration(soft)})",
            )
        return TaskOptions(**{k: v for k, v in merged.items() if k in OPTION_KEYS})

    # --- schedules --------------------------------------------------------------------------

    def schedule(
        self, name: str, data: Mapping[Any, Any], line: int | None, path: str, zone: ZoneInfo
    ) -> Schedule | None:
        kinds = [k for k in data if k in SCHEDULE_KINDS]  # in file order
        if not kinds:
            # A misspelled kind ("evry") is already reported with its suggestion.
            misspelled = any(
                did_you_mean(str(key), SCHEDULE_KINDS) for key in data if key not in ENTRY_KEYS
            )
            if not misspelled:
                self.report(line, path, "no schedule: give one of cron, every, calendar, at")
            return None
        if len(kinds) > 1:
            named = ", ".join(repr(k) for k in kinds[:-1]) + f" and {kinds[-1]!r}"
            self.report(
                self.line_of(data, kinds[1]),
                path,
                f"{named} are both given: use exactly one of cron, every, calendar, at"
                if len(kinds) == 2
                else f"{named} are all given: use exactly one of cron, every, calendar, at",
            )
            return None
        kind = kinds[0]
        if "start" in data and kind != "every":
            hint = " (for calendar, put start inside calendar:)" if kind == "calendar" else ""
            self.report(
                self.line_of(data, "start"),
                f"{path}.start",
                f"'start' only applies to 'every'{hint}",
            )
            return None
        build = {
            "cron": self._cron,
            "every": self._every,
            "calendar": self._calendar,
            "at": self._once,
        }[kind]
        try:
            built = build(name, data, path, zone)
        except ScheduleError as e:
            self._schedule_error(data, path, kind, e)
            return None
        except (ValueError, ArithmeticError) as e:
            self.report(self.line_of(data, kind), f"{path}.{kind}", str(e) or type(e).__name__)
            return None
        # The frozen dataclasses' read-only `zone` does not match the protocol's settable
        # attribute for mypy, though every use only reads it.
        return cast("Schedule | None", built)

    def _schedule_error(
        self, data: Mapping[Any, Any], path: str, kind: str, error: ScheduleError
    ) -> None:
        # A cron error names a part of the expression ("minute: 60 is out of range 0-59") and
        # points at the cron key; other errors name a key (every, start, at, calendar.every)
        # and point at that key's line.
        if error.field == kind:
            self.report(self.line_of(data, kind), f"{path}.{kind}", error.problem)
            return
        if kind != "cron":
            nested = data[kind] if kind == "calendar" else None
            holder = nested if isinstance(nested, Mapping) else data
            base = f"{path}.calendar" if holder is nested else path
            if error.field in holder:
                self.report(
                    self.line_of(holder, error.field), f"{base}.{error.field}", error.problem
                )
                return
        self.report(self.line_of(data, kind), f"{path}.{kind}", str(error))

    def _cron(
        self, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
    ) -> _AnySchedule | None:
        expr = self.string(data, "cron", path, "a cron expression like '30 2 * * *'")
        return None if expr is None else Cron(expr, zone, name=name)

    def _every(
        self, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
    ) -> _AnySchedule | None:
        every = self.duration(data, "every", path)
        start = None
        if "start" in data and data["start"] is not None:
            start = self.instant(data, "start", path, zone, dates=True)
            if start is None:
                return None
        return None if every is None else Interval(every, start, zone)

    def _once(
        self, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
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
        self.report(
            self.line_of(data, "at"),
            f"{path}.at",
            f"expected a date and time like 2026-12-01T09:00 (local) or "
            f"2026-12-01T09:00:00Z, got {_kind(value)}",
        )
        return None

    def _calendar(
        self, name: str, data: Mapping[Any, Any], path: str, zone: ZoneInfo
    ) -> _AnySchedule | None:
        where = f"{path}.calendar"
        raw = data["calendar"]
        if type(raw) is not Lined and not isinstance(raw, Mapping):
            self.report(
                self.line_of(data, "calendar"),
                where,
                f"expected a mapping {{every, at, start}}, got {_kind(raw)}",
            )
            return None
        before = len(self.problems)
        self.unknown_keys(raw, CALENDAR_KEYS, where)
        line = self.line_of(data, "calendar")
        step = None
        for key in ("every", "start"):
            if key not in raw:
                example = "2w" if key == "every" else "2026-01-05"
                self.report(line, where, f"missing required key {key!r} (e.g. {key}: {example})")
        if "every" in raw:
            try:
                step = parse_calendar_step(raw["every"], f"{where}.every")
            except ValueError as e:
                self.report(
                    self.line_of(raw, "every"),
                    f"{where}.every",
                    str(e).removeprefix(f"{where}.every: "),
                )
        at = time(0, 0)
        if "at" in raw:
            at = self.clock(raw, "at", where) or at
        start = None
        if "start" in raw:
            start = self.day(raw, "start", where)
        if len(self.problems) > before or step is None or start is None:
            return None
        count, unit = step
        return Calendar(count, unit, at, start, zone)

    # --- dates and times --------------------------------------------------------------------

    def instant(
        self, data: Mapping[Any, Any], key: str, path: str, zone: ZoneInfo, *, dates: bool
    ) -> datetime | None:
        """An aware instant; naive values (and dates, as midnight) are local to ``zone``."""
        value = data[key]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value.strip())
        if isinstance(value, date) and not isinstance(value, datetime) and dates:
            value = datetime.combine(value, time(0, 0))
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else resolve_fixed(value, zone)
        self.report(
            self.line_of(data, key),
            f"{path}.{key}",
            f"expected a date-time like 2026-01-01T00:00:00Z, got {_kind(data[key])}",
        )
        return None

    def clock(self, data: Mapping[Any, Any], key: str, path: str) -> time | None:
        value = data[key]
        if isinstance(value, time):
            return value.replace(tzinfo=None)
        match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is not None:
            hour, minute, second = (int(g) if g else 0 for g in match.groups())
            if hour < 24 and minute < 60 and second < 60:
                return time(hour, minute, second)
        self.report(
            self.line_of(data, key),
            f"{path}.{key}",
            f'expected a local time like "09:30", got {_kind(value)}',
        )
        return None

    def day(self, data: Mapping[Any, Any], key: str, path: str) -> date | None:
        value = data[key]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value.strip())
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.report(
            self.line_of(data, key),
            f"{path}.{key}",
            f"expected a date like 2026-01-05, got {_kind(data[key])}",
        )
        return None


# --- the configuration file -------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem."""
    config, problems = read_config(path)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def read_config(path: Path) -> tuple[Config | None, list[Problem]]:
    """Read and validate ``path``: the configuration built from what is valid (None when the
    file cannot be read or parsed), and every problem, in file order."""
    checker = _Checker(str(path))
    text = _read(path, checker)
    if text is None:
        return None, checker.problems
    try:
        root = _compose(text, checker)
    except YamlLimitExceeded as e:
        checker.report(e.line, e.path, e.message)
        return None, checker.problems
    except yaml.YAMLError as e:
        checker.report(yaml_error_line(e, text), "", yaml_error_message(e, text))
        return None, checker.problems
    config = _build(path, root, checker)
    return config, sorted(checker.problems, key=lambda p: p.line or 0)


def _read(path: Path, checker: _Checker) -> str | None:
    try:
        data = read_yaml_bytes(path)
    except YamlLimitExceeded as e:
        checker.report(None, "", e.message)
        return None
    except FileNotFoundError:
        checker.report(None, "", "file not found")
        return None
    except IsADirectoryError:
        checker.report(None, "", "is a directory, not a file")
        return None
    except OSError as e:
        checker.report(None, "", f"cannot read: {e.strerror or e}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        checker.report(line, "", f"not UTF-8 text (byte {e.start})")
        return None


def _compose(text: str, checker: _Checker) -> Any:
    return TreeBuilder(checker.report).build(text)


def _build(path: Path, root: Any, checker: _Checker) -> Config | None:
    if root is None:
        root = {}
    if not isinstance(root, Mapping):
        checker.report(
            checker.line_of(root) or 1,
            "",
            f"expected a mapping at the top level (timezone, entries, ...), got {_kind(root)}",
        )
        return None
    checker.unknown_keys(root, TOP_KEYS, "")
    resolved = path.resolve()
    zone = UTC_ZONE
    if "timezone" in root and root["timezone"] is not None:
        zone = checker.zone(root, "timezone", "") or zone
    broker_url = f"sqlite:///{resolved.parent / 'queue.db'}"
    if root.get("broker") is not None:
        broker_url = (
            _url(checker, root, "broker", "a broker URL like redis://localhost:6379/0")
            or broker_url
        )
    source = "yaml"
    if root.get("source") is not None:
        value = root["source"]
        if value != "yaml":
            source = (
                _url(
                    checker,
                    root,
                    "source",
                    "'yaml' or a database URL like postgresql://user@host/db",
                )
                or source
            )
    imports = _imports(checker, root)
    defaults = checker.defaults(root.get("defaults"), checker.line_of(root, "defaults"))
    metrics_port = None
    if root.get("metrics_port") is not None:
        metrics_port = checker.integer(root, "metrics_port", "", 1, 65535)
    log_format = "text"
    if root.get("log_format") is not None:
        log_format = checker.choice(root, "log_format", "", LOG_FORMATS) or log_format
    worker = _worker_section(checker, root)
    beat = _beat_section(checker, root)

    entries: dict[str, Entry] = {}
    section = checker.mapping(
        root.get("entries"), checker.line_of(root, "entries"), "entries", "entry names to entries"
    )
    for name, data in section.items():
        entry = checker.entry(name, data, checker.line_of(section, name), zone, defaults, "yaml")
        if entry is not None:
            entries[entry.name] = entry
    return Config(
        path=resolved,
        timezone=zone,
        broker_url=broker_url,
        imports=imports,
        source=source,
        defaults=defaults,
        entries=entries,
        worker=worker,
        beat=beat,
        metrics_port=metrics_port,
        log_format=log_format,
    )


def _url(checker: _Checker, data: Mapping[Any, Any], key: str, what: str) -> str | None:
    value = data[key]
    if isinstance(value, str) and _URL.match(value):
        return value
    checker.report(checker.line_of(data, key), key, f"expected {what}, got {_kind(value)}")
    return None


def _imports(checker: _Checker, root: Mapping[Any, Any]) -> tuple[str, ...]:
    value = root.get("imports")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    line = checker.line_of(root, "imports")
    if not isinstance(value, list | tuple):
        checker.report(line, "imports", f"expected a list of module names, got {_kind(value)}")
        return ()
    good: list[str] = []
    for index, module in enumerate(value):
        if isinstance(module, str) and _MODULE.fullmatch(module):
            good.append(module)
        else:
            checker.report(
                line,
                f"imports[{index}]",
                f"expected a module name like myapp.tasks, got {_kind(module)}",
            )
    return tuple(good)


def _worker_section(checker: _Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    """The ``worker:`` section as written (the worker parses it itself), checked here too so
    that ``beat check`` catches its mistakes; rules match :mod:`worker.settings`."""
    section = checker.mapping(
        root.get("worker"), checker.line_of(root, "worker"), "worker", "worker settings"
    )
    checker.unknown_keys(section, WORKER_KEYS, "worker")
    for key in ("lease", "shutdown_timeout"):
        if key in section:
            checker.duration(section, key, "worker")
    for key in ("concurrency", "max_tasks_per_child", "max_memory_per_child", "max_deliveries"):
        if section.get(key) is not None:
            checker.integer(section, key, "worker", 1)
    if section.get("metrics_port") is not None:
        checker.integer(section, "metrics_port", "worker", 0, 65535)
    if "pool" in section:
        checker.choice(section, "pool", "worker", ("prefork", "threads"))
    for key in ("commands", "command_env"):
        if section.get(key) is not None:
            for field, problem in command_setting_problems(key, section[key]):
                checker.report(checker.line_of(section, key), field, problem)
    if "loglevel" in section:
        _loglevel(checker, section, "worker")
    if "log_format" in section:
        checker.choice(section, "log_format", "worker", LOG_FORMATS)
    if "name" in section:
        checker.string(section, "name", "worker", "a worker name")
    queues = section.get("queues")
    if (
        queues is not None
        and not isinstance(queues, str)
        and not (isinstance(queues, list | tuple) and all(isinstance(q, str) for q in queues))
    ):
        checker.report(
            checker.line_of(section, "queues"),
            "worker.queues",
            f"expected a list of queue names, got {_kind(queues)}",
        )
    try:
        plain: dict[str, Any] = _plain(
            {k: v for k, v in section.items() if k in WORKER_KEYS}, "worker"
        )
    except _NotJSON as e:
        checker.report(checker.line_of(section), e.where, e.message)
        return {}
    return plain


def _beat_section(checker: _Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    section = checker.mapping(
        root.get("beat"), checker.line_of(root, "beat"), "beat", "beat settings"
    )
    checker.unknown_keys(section, BEAT_KEYS, "beat")
    out: dict[str, Any] = {}
    if "state" in section and (
        state := checker.string(section, "state", "beat", "a state file or database URL")
    ):
        out["state"] = state
    if "lookahead" in section:
        lookahead = checker.duration(section, "lookahead", "beat", allow_zero=True)
        if lookahead is not None:
            out["lookahead"] = lookahead
    if "leader_lease" in section and (lease := checker.duration(section, "leader_lease", "beat")):
        out["leader_lease"] = lease
    if "loglevel" in section and (level := _loglevel(checker, section, "beat")):
        out["loglevel"] = level
    return out


def _loglevel(checker: _Checker, section: Mapping[Any, Any], path: str) -> str | None:
    value = section["loglevel"]
    if isinstance(value, str) and value.lower() in LOG_LEVELS:
        return value.lower()
    checker.report(
        checker.line_of(section, "loglevel"),
        f"{path}.loglevel",
        f"expected one of {', '.join(LOG_LEVELS)}, got {_kind(value)}",
    )
    return None


# --- plain mappings (the SQL source) ----------------------------------------------------------


def validate_entry(
    name: str,
    data: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    defaults: Mapping[str, Any],
    source: str = "yaml",
    file: str = "<input>",
) -> Entry:
    """Validate one entry given as a plain mapping (the YAML form of an entry); raises
    :class:`ConfigError` with every problem (lines are None). ``defaults`` is the
    ``defaults:`` mapping, raw or as in :attr:`Config.defaults`."""
    checker = _Checker(file)
    parsed_defaults = checker.defaults(defaults, None)
    entry = checker.entry(name, data, None, zone, parsed_defaults, source)
    if checker.problems or entry is None:
        raise ConfigError(checker.problems)
    return entry


def entry_to_mapping(entry: Entry) -> dict[str, Any]:
    """The YAML form of ``entry`` with every setting explicit (defaults filled in): read back
    by :func:`validate_entry` it gives an equal entry (same content hash)."""
    out: dict[str, Any] = {"task": entry.task}
    out.update(_schedule_mapping(entry.schedule))
    out["timezone"] = entry.schedule.zone.key
    out["queue"] = entry.queue
    if entry.args:
        out["args"] = list(entry.args)
    if entry.kwargs:
        out["kwargs"] = dict(entry.kwargs)
    options = {
        name: format_duration(value) if isinstance(value, timedelta) else value
        for name in OPTION_KEYS
        if (value := getattr(entry.options, name)) is not None
    }
    if options:
        out["options"] = options
    out["catch_up"] = entry.catch_up.value
    out["grace"] = format_duration(entry.grace)
    out["enabled"] = entry.enabled
    return out


def _schedule_mapping(schedule: Schedule) -> dict[str, Any]:
    if isinstance(schedule, Cron):
        return {"cron": schedule.expr}
    if isinstance(schedule, Interval):
        out: dict[str, Any] = {"every": format_duration(schedule.every)}
        if schedule.start is not None:
            out["start"] = schedule.start.isoformat()
        return out
    if isinstance(schedule, Calendar):
        return {
            "calendar": {
                "every": format_calendar_step(schedule.every, schedule.unit),
                "at": schedule.at.isoformat(
                    timespec="seconds" if schedule.at.second else "minutes"
                ),
                "start": schedule.start.isoformat(),
            }
        }
    if isinstance(schedule, Once):
        return {"at": schedule.at.isoformat()}
    raise TypeError(f"unknown schedule type {type(schedule).__name__}")
