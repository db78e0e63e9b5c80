"""Collecting configuration problems, and the checks of single values they come from.

A :class:`Checker` never stops at the first problem: every check reports what is wrong (with
the line of the key when the mapping came from the YAML file, see :mod:`daemonkit.yaml_tree`;
plain mappings from the SQL source give line None) and returns None, so the caller goes on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date, time, timedelta
from math import isfinite
from typing import Any
from zoneinfo import ZoneInfo

from beat.errors import Problem
from beat.time import zones
from beat.time.durations import parse_duration
from daemonkit.yaml_tree import Lined, LinedList, segment
from taskqueue.config_text import describe, did_you_mean

# Names of entries and queues: they appear in message ids, logs and metrics labels.
NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")
# Deeper args/kwargs are surely a mistake (or an alias bomb), and would exhaust the stack.
_MAX_DEPTH = 100
# Zone names that resolve to the host's own zone: the SPEC forbids depending on it.
_HOST_ZONES = frozenset(("localtime", "posixrules"))


class NotJSON(Exception):
    """A value that cannot go into a JSON message; ``where`` is its path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def plain(value: Any, where: str, depth: int = 0) -> Any:
    """A deep copy of a YAML value as plain JSON types (args, kwargs, worker section)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not isfinite(value):
            raise NotJSON(where, f"{value!r} cannot be sent in a JSON message")
        return value
    if depth > _MAX_DEPTH:
        raise NotJSON(where, f"nested more than {_MAX_DEPTH} levels deep")
    if type(value) is Lined or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJSON(where, f"keys must be strings, got {describe(key)}")
            out[key] = plain(item, f"{where}.{segment(key)}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, date | time):
        raise NotJSON(where, f"{describe(value)} is not JSON; quote it to send it as a string")
    raise NotJSON(where, f"{describe(value)} cannot be sent in a JSON message")


@functools.cache
def _key_set(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


@functools.cache
def _known_zones() -> tuple[str, ...]:
    return tuple(sorted(zones.available() - _HOST_ZONES))


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Checker:
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
        self.report(line, path, f"expected a mapping of {what}, got {describe(value)}")
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
            self.line_of(data, key), _where(path, key), f"expected {what}, got {describe(value)}"
        )
        return None

    def duration(
        self, data: Mapping[Any, Any], key: str, path: str, *, allow_zero: bool = False
    ) -> timedelta | None:
        where = _where(path, key)
        try:
            return parse_duration(data[key], where, allow_zero=allow_zero)
        except ValueError as e:
            # parse_duration names the field; the path is already in the Problem.
            self.report(self.line_of(data, key), where, str(e).removeprefix(f"{where}: "))
            return None

    def zone(self, data: Mapping[Any, Any], key: str, path: str) -> ZoneInfo | None:
        value = data[key]
        where = _where(path, key)
        line = self.line_of(data, key)
        if not isinstance(value, str) or not value:
            self.report(
                line, where, f"expected a time zone name like Europe/Berlin, got {describe(value)}"
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
        options = ", ".join(choices)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        self.report(
            self.line_of(data, key),
            _where(path, key),
            f"expected one of {options}, got {describe(value)}{hint}",
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
        self.report(
            self.line_of(data, key),
            _where(path, key),
            f"expected a whole number {bounds}, got {describe(value)}",
        )
        return None
