"""The values of a Celery configuration, read from its syntax tree without running it.

Literals (numbers, strings, lists, tuples, dicts, ``True``...) are read with
:func:`ast.literal_eval`; of calls, only the schedule constructors a ``beat_schedule`` uses
are understood (``crontab``, ``solar``, ``schedule``, ``timedelta``), recognised by what the
module imported them as. Anything else (a variable, another call, an f-string) is
:class:`NotLiteral`, with its line and text, so the entry holding it is refused rather than
guessed.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = ["CrontabCall", "IntervalCall", "NotLiteral", "SolarCall", "evaluate"]

# Dotted origins of the calls understood, by what they build.
_CALLS = {
    "celery.schedules.crontab": "crontab",
    "celery.schedules.solar": "solar",
    "celery.schedules.schedule": "schedule",
    "celery.crontab": "crontab",
    "datetime.timedelta": "timedelta",
}
# Positional parameters, as Celery 5 (celery/schedules.py) and datetime declare them.
_PARAMETERS = {
    "crontab": ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"),
    "solar": ("event", "lat", "lon"),
    "schedule": ("run_every", "relative"),
    "timedelta": ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"),
}


class NotLiteral(Exception):
    """A value the importer cannot know without running the module."""

    def __init__(self, node: ast.AST, why: str) -> None:
        text = ast.unparse(node)
        if len(text) > 60:
            text = text[:57] + "..."
        super().__init__(f"line {getattr(node, 'lineno', '?')}: {why}: {text}")
        self.line: int | None = getattr(node, "lineno", None)
        self.why = f"{why}: {text}"


@dataclass(frozen=True)
class CrontabCall:
    """``crontab(...)``: its arguments by name (the raw values, checked later)."""

    fields: Mapping[str, Any]
    line: int


@dataclass(frozen=True)
class SolarCall:
    event: Any
    lat: Any
    lon: Any
    line: int


@dataclass(frozen=True)
class IntervalCall:
    """``schedule(run_every=..., relative=...)``."""

    run_every: Any
    relative: Any
    line: int


def evaluate(node: ast.expr, imports: Mapping[str, str]) -> Any:
    """The value of ``node``: a literal, or one of the calls above. Raises NotLiteral."""
    if isinstance(node, ast.Call):
        return _call(node, imports)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise NotLiteral(node, "a ** expansion is not a literal")
        return {
            evaluate(k, imports): evaluate(v, imports)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    if isinstance(node, ast.List | ast.Tuple):
        items = [evaluate(item, imports) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise NotLiteral(node, "not a literal (the importer runs no code)") from None


def _call(node: ast.Call, imports: Mapping[str, str]) -> Any:
    kind = _CALLS.get(_origin(node.func, imports) or "")
    if kind is None:
        raise NotLiteral(node, "a call the importer does not know")
    params = _PARAMETERS[kind]
    if len(node.args) > len(params) or any(isinstance(a, ast.Starred) for a in node.args):
        raise NotLiteral(node, f"{kind}(): unexpected positional arguments")
    arguments: dict[str, Any] = {}
    for name, arg in zip(params, node.args, strict=False):
        arguments[name] = evaluate(arg, imports)
    for kw in node.keywords:
        if kw.arg is None:
            raise NotLiteral(node, f"{kind}(): a ** expansion is not a literal")
        if kw.arg not in params:
            raise NotLiteral(node, f"{kind}(): argument {kw.arg!r} has no equivalent")
        arguments[kw.arg] = evaluate(kw.value, imports)
    return _build(kind, arguments, node)


def _build(kind: str, arguments: dict[str, Any], node: ast.Call) -> Any:
    if kind == "timedelta":
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in arguments.values()
        ):
            raise NotLiteral(node, "timedelta(): arguments must be numbers")
        return timedelta(**arguments)
    if kind == "crontab":
        return CrontabCall(arguments, node.lineno)
    if kind == "solar":
        missing = [p for p in _PARAMETERS["solar"] if p not in arguments]
        if missing:
            raise NotLiteral(node, f"solar(): missing {', '.join(missing)}")
        return SolarCall(arguments["event"], arguments["lat"], arguments["lon"], node.lineno)
    return IntervalCall(arguments.get("run_every"), arguments.get("relative", False), node.lineno)


def _origin(func: ast.expr, imports: Mapping[str, str]) -> str | None:
    """The dotted origin of a called name (``cr`` -> ``celery.schedules.crontab`` after
    ``from celery.schedules import crontab as cr``), or None."""
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in imports:
        return None
    return ".".join([imports[func.id], *reversed(parts)])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
