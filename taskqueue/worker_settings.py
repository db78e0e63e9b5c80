"""The ``worker:`` section of ``schedules.yaml``: the one parser for ``beat check`` and the worker.

Beat and the worker never import each other, so the rules live here, in the package both
import; each caller only adds where the problems are (beat: the file and line; the worker: the
file). Problems never stop the parse: every one is listed, with its path (``worker.lease``,
``worker.commands[1]``) and the key of the section it belongs to (for its line).

Null rules, as they always were: ``lease``, ``shutdown_timeout``, ``pool``, ``loglevel``,
``log_format`` and ``name`` must have a value when written; a null count, port, list of
queues, commands or environment names means "not set".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

# The log settings live with the keys: beat reads them without this module (issue 17).
from taskqueue.config_keys import LOG_FORMATS as LOG_FORMATS
from taskqueue.config_keys import LOG_LEVELS as LOG_LEVELS
from taskqueue.config_keys import WORKER_KEYS, command_setting_problems
from taskqueue.config_keys import parse_loglevel as parse_loglevel
from taskqueue.config_text import describe, did_you_mean
from taskqueue.durations import parse_duration

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "POOLS",
    "SectionProblem",
    "WorkerSection",
    "parse_loglevel",
    "parse_worker_section",
]

POOLS = ("prefork", "threads")
# The bounds of a metrics port here: 0 asks the system for a free port.
_PORT_LOW, _PORT_HIGH = 0, 65535


@dataclass(slots=True)
class WorkerSection:
    """The valid settings of a ``worker:`` section; None where the file does not set one."""

    queues: list[str] | None = None
    concurrency: int | None = None
    pool: str | None = None
    lease: timedelta | None = None
    shutdown_timeout: timedelta | None = None
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    max_deliveries: int | None = None
    name: str | None = None
    loglevel: str | None = None  # lower case
    log_format: str | None = None
    metrics_port: int | None = None
    commands: list[str] | None = None
    command_env: list[str] | None = None
    result_expires: timedelta | None = None

    def given(self) -> dict[str, Any]:
        """The settings the file sets, by key."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


@dataclass(frozen=True, slots=True)
class SectionProblem:
    """One thing wrong: ``path`` and ``message`` for the reader; ``key`` is the key of the
    section it is under (None when ``whole_section``: the section itself is not a mapping)."""

    path: str
    message: str
    key: Any = None
    whole_section: bool = False


# A check appends (path, problem) pairs to its list and returns the parsed value.
_Found = list[tuple[str, str]]
_Check = Callable[[str, Any, _Found], Any]


def parse_worker_section(value: object) -> tuple[WorkerSection, list[SectionProblem]]:
    """The valid settings of the ``worker:`` section ``value`` (None counts as empty), and
    every problem, in a fixed order: unknown keys, then the keys in :data:`_CHECKS` order."""
    if value is None:
        return WorkerSection(), []
    if not isinstance(value, Mapping):
        message = f"expected a mapping of worker settings, got {describe(value)}"
        return WorkerSection(), [SectionProblem("worker", message, whole_section=True)]
    problems = [
        SectionProblem(
            "worker", f"unknown key {str(key)!r}{did_you_mean(str(key), WORKER_KEYS)}", key
        )
        for key in value
        if key not in WORKER_KEYS
    ]
    settings: dict[str, Any] = {}
    for key, check, null_is_unset in _CHECKS:
        if key not in value or (value[key] is None and null_is_unset):
            continue
        found: _Found = []
        parsed = check(key, value[key], found)
        problems.extend(SectionProblem(path, message, key) for path, message in found)
        if not found:
            settings[key] = parsed
    return WorkerSection(**settings), problems


# --- one check per kind of value --------------------------------------------------------------


def _duration(key: str, value: Any, found: _Found) -> timedelta | None:
    where = f"worker.{key}"
    try:
        return parse_duration(value, where)
    except ValueError as e:
        found.append((where, str(e).removeprefix(f"{where}: ")))
        return None


def _count(key: str, value: Any, found: _Found) -> int | None:
    return _whole(key, value, found, 1, None)


def _port(key: str, value: Any, found: _Found) -> int | None:
    return _whole(key, value, found, _PORT_LOW, _PORT_HIGH)


def _whole(key: str, value: Any, found: _Found, low: int, high: int | None) -> int | None:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and value >= low and (high is None or value <= high):
        return int(value)
    bounds = f"from {low} to {high}" if high is not None else f">= {low}"
    found.append((f"worker.{key}", f"expected a whole number {bounds}, got {describe(value)}"))
    return None


def _one_of(choices: tuple[str, ...]) -> _Check:
    def check(key: str, value: Any, found: _Found) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        message = f"expected one of {', '.join(choices)}, got {describe(value)}{hint}"
        found.append((f"worker.{key}", message))
        return None

    return check


def _loglevel(key: str, value: Any, found: _Found) -> str | None:
    try:
        return parse_loglevel(value)
    except ValueError as e:
        found.append((f"worker.{key}", str(e)))
        return None


def _name(key: str, value: Any, found: _Found) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    found.append((f"worker.{key}", f"expected a worker name, got {describe(value)}"))
    return None


def _command_list(key: str, value: Any, found: _Found) -> list[str]:
    found.extend(command_setting_problems(key, value))
    return list(value) if isinstance(value, list | tuple) else []


def _queues(key: str, value: Any, found: _Found) -> list[str] | None:
    # "a, b" is the command line's spelling (-Q a,b), accepted here too.
    if isinstance(value, str):
        return [q.strip() for q in value.split(",") if q.strip()]
    if isinstance(value, list | tuple) and all(isinstance(q, str) for q in value):
        return list(value)
    found.append((f"worker.{key}", f"expected a list of queue names, got {describe(value)}"))
    return None


# (key, check, whether null means "not set"), in the order problems are listed.
_CHECKS: tuple[tuple[str, _Check, bool], ...] = (
    ("lease", _duration, False),
    ("shutdown_timeout", _duration, False),
    ("result_expires", _duration, False),
    ("concurrency", _count, True),
    ("max_tasks_per_child", _count, True),
    ("max_memory_per_child", _count, True),
    ("max_deliveries", _count, True),
    ("metrics_port", _port, True),
    ("pool", _one_of(POOLS), False),
    ("commands", _command_list, True),
    ("command_env", _command_list, True),
    ("loglevel", _loglevel, False),
    ("log_format", _one_of(LOG_FORMATS), False),
    ("name", _name, False),
    ("queues", _queues, True),
)
