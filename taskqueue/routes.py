"""THE ROUTING RULE: ``routes:`` maps task-name patterns to a queue and call options.

Pure (no I/O), shared by the producer (``delay``/``send_task``) and beat (entries) so both
route alike. Patterns are :mod:`fnmatch` patterns (``reports.*``) tried in file order; the
first that matches wins. Precedence, one rule for every option: an explicit value (a call's
``queue=``, an entry's ``queue:``/``options:``) > the task's own (``@task(queue=...)``, for
calls from a process that imported the task) > the route > the default. Calls apply it in
:func:`worker.calling.build_message`, entries in :mod:`beat.config.entry` (beat never imports
task code, so ``@task`` values do not reach entries: see README "Routing").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from taskqueue.durations import parse_duration
from taskqueue.errors import FieldProblem
from taskqueue.message import MAX_PRIORITY, MIN_PRIORITY

OPTION_KEYS = frozenset(
    {"queue", "priority", "soft_time_limit", "time_limit", "expires", "max_retries"}
)


class RouteError(FieldProblem):
    """One thing wrong in ``routes:``: ``where`` is its path (``routes.reports.*.priority``)."""


@dataclass(frozen=True, slots=True)
class Route:
    pattern: str
    queue: str | None = None
    priority: int | None = None
    soft_time_limit: timedelta | None = None
    time_limit: timedelta | None = None
    expires: timedelta | None = None
    max_retries: int | None = None


def _int(value: Any, where: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RouteError(where, f"must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise RouteError(where, f"must be at most {high}, got {value!r}")
    return value


def parse_route(pattern: Any, options: Any, where: str) -> Route:
    """One ``pattern: {options}`` item; ValueError naming ``where`` and the field."""
    if not isinstance(pattern, str) or not pattern.strip() or pattern != pattern.strip():
        raise RouteError(where, f"pattern {pattern!r} must be a non-empty task-name pattern")
    if pattern.count("[") != pattern.count("]"):
        raise RouteError(where, f"pattern {pattern!r} has an unclosed '['")
    at = f"{where}.{pattern}"
    if not isinstance(options, Mapping):
        raise RouteError(at, f"must be a mapping of options, got {type(options).__name__}")
    unknown = sorted(str(k) for k in options if k not in OPTION_KEYS)
    if unknown:
        allowed = ", ".join(sorted(OPTION_KEYS))
        raise RouteError(at, f"unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
    queue = options.get("queue")
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise RouteError(f"{at}.queue", f"must be a non-empty queue name, got {queue!r}")
    priority, retries = options.get("priority"), options.get("max_retries")

    def duration(key: str) -> timedelta | None:
        value = options.get(key)
        if value is None:
            return None
        try:
            return parse_duration(value, "")
        except ValueError as e:
            raise RouteError(f"{at}.{key}", str(e).removeprefix(": ")) from None

    return Route(
        pattern=pattern,
        queue=queue,
        priority=None
        if priority is None
        else _int(priority, f"{at}.priority", MIN_PRIORITY, MAX_PRIORITY),
        soft_time_limit=duration("soft_time_limit"),
        time_limit=duration("time_limit"),
        expires=duration("expires"),
        max_retries=None if retries is None else _int(retries, f"{at}.max_retries", 0, None),
    )


def parse_routes(raw: Any, where: str = "routes") -> list[Route]:
    """The ``routes:`` mapping, in file order."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise RouteError(where, "must be a mapping of pattern -> options")
    return [parse_route(p, o, where) for p, o in raw.items()]


def match(routes: Sequence[Route], task: str) -> Route | None:
    """The first route whose pattern matches ``task`` (case-sensitive), or None."""
    return next((r for r in routes if fnmatch.fnmatchcase(task, r.pattern)), None)


def first_set(*values: Any) -> Any:
    """The first of ``values`` that is not None (the precedence above, highest first)."""
    return next((v for v in values if v is not None), None)
