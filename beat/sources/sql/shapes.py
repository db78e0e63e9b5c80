"""Rows into entries, each distinct row validated once (issue 17: a million rows at start-up).

A table of a million entries repeats a few hundred settings under a million names. A row is
looked up by its column values (all but its name): when an identical row already validated,
the entry is that row's shared spec under the new name, with no decoding and no validation.
Every other row is decoded and validated as a ``schedules.yaml`` entry would be, so its
problems name the source, the entry and the field exactly as before.

What makes an entry depend on its name, and how a hit respects it (the rules of
:class:`beat.config.entry.SpecCache`, which the validation itself also uses):

- ``H`` in a cron: the fires depend on the name; such rows are never remembered (told by the
  schedule built: a cron keeps the entry's name only for ``H``);
- the name must be valid: checked on every hit;
- the largest message grows with the name's length: a hit is taken only for a name no longer
  than one that validated with this row (a longer one is validated, then remembered).

Only rows whose values are text or NULL, with a boolean (or SQLite's 0/1) ``enabled``, are
remembered: two of those are equal exactly when they read the same (no ``1 == 1.0 == True``
between text columns), and a hit also requires the same type of ``enabled``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from beat.config.checker import NAME
from beat.config.entry import SpecCache, validate_entry
from beat.config.keys import ENTRY_KEYS
from beat.entries import Entry, EntrySpec, Schedule
from beat.errors import ConfigError, Problem
from beat.sources.sql.rows import values_to_mapping
from beat.time.bounds import Bounded
from beat.time.schedules import Cron
from taskqueue.routes import Route

_ENABLED = ENTRY_KEYS.index("enabled")
# Distinct rows remembered per read at most (each holds its values: a few hundred bytes). A
# table of all-distinct rows gains nothing from more.
_MAX_SHAPES = 65536


class RowDecoder:
    """One read's rows (column values in :data:`ENTRY_KEYS` order) into entries."""

    __slots__ = ("_cache", "_defaults", "_file", "_routes", "_shapes", "_zone")

    def __init__(
        self,
        file: str,
        *,
        zone: ZoneInfo,
        defaults: Mapping[str, Any],
        routes: Sequence[Route],
    ) -> None:
        self._file = file
        self._zone = zone
        self._defaults = defaults
        self._routes = routes
        # validate_entry's own cache: the defaults are checked once per read, not per row.
        self._cache = SpecCache()
        # Row values -> (the spec, the longest name it validated with, the type of enabled).
        self._shapes: dict[tuple[Any, ...], tuple[EntrySpec, int, type]] = {}

    def entry(self, name: str, values: tuple[Any, ...], problems: list[Problem]) -> Entry | None:
        """The entry of row ``name``, or None after adding its problems to ``problems``."""
        try:
            shape = self._shapes.get(values)
        except TypeError:  # a value of a driver's own unhashable type: validated every time
            shape = None
        if (
            shape is not None
            and len(name) <= shape[1]
            and type(values[_ENABLED]) is shape[2]
            and NAME.fullmatch(name)
        ):
            return Entry.of(name, shape[0])
        entry = self._validate(name, values, problems)
        if entry is not None and _rememberable(values) and not _uses_name(entry.schedule):
            if shape is None and len(self._shapes) >= _MAX_SHAPES:
                return entry
            longest = len(name) if shape is None else max(len(name), shape[1])
            self._shapes[values] = (entry.spec, longest, type(values[_ENABLED]))
        return entry

    def _validate(self, name: str, values: Sequence[Any], problems: list[Problem]) -> Entry | None:
        mapping, bad = values_to_mapping(name, values, file=self._file)
        if bad:
            problems.extend(bad)
            return None
        try:
            return validate_entry(
                name,
                mapping,
                zone=self._zone,
                defaults=self._defaults,
                source=self._file,
                file=self._file,
                routes=self._routes,
                cache=self._cache,
            )
        except ConfigError as e:
            problems.extend(e.problems)
            return None


def _rememberable(values: tuple[Any, ...]) -> bool:
    """Text or NULL columns and a bool or int ``enabled`` (see the module doc)."""
    if type(values[_ENABLED]) not in (bool, int):
        return False
    return all(v is None or type(v) is str for i, v in enumerate(values) if i != _ENABLED)


def _uses_name(schedule: Schedule) -> bool:
    """Whether ``schedule`` depends on its entry's name: a cron keeps the name only when it
    uses ``H`` (read from the schedule built, so ``@hourly`` or ``thu`` are not mistaken for
    it: a fleet on ``@hourly`` is validated once, not once per row)."""
    if isinstance(schedule, Bounded):
        schedule = schedule.inner
    return isinstance(schedule, Cron) and bool(schedule.name)
