"""Rows into entries, each distinct row validated once (issue 17: a million rows at start-up).

A table of a million entries repeats a few hundred settings under a million names. A row is
looked up by its column values but for its name and its own arguments (``args`` and
``kwargs`` count only as present, as in the configuration's :class:`SpecCache`): the first
such row is decoded and validated as a ``schedules.yaml`` entry would be, so its problems
name the source, the entry and the field exactly as before; every other row is made from
that row's template by :func:`beat.config.entry.like_entry`, the same rules a ``schedules.yaml``
entry alike to another is made by. So what depends on the row is still checked for each one:
its name, its arguments, an ``H`` cron (its fires depend on the name) and whether its largest
message fits with this name; nothing else is decoded or checked again.

Only rows whose values are text, NULL or whole numbers are templates: two such values are
equal exactly when they read the same (the drivers give text columns as text, and ``enabled``
as a boolean or SQLite's 0/1, which decode alike); any other row (a float, a driver's own
type) is decoded and validated by its mapping (whose key takes the values' types).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from beat.config.checker import NAME, Checker
from beat.config.entry import SpecCache, like_entry, validate_entry
from beat.config.keys import ENTRY_KEYS
from beat.entries import Entry
from beat.errors import ConfigError, Problem
from beat.sources.sql.rows import values_to_mapping
from taskqueue.routes import Route

_ARGS = ENTRY_KEYS.index("args")
_KWARGS = ENTRY_KEYS.index("kwargs")
assert _KWARGS == _ARGS + 1  # the own columns are side by side (see _row_key)
_ENABLED = ENTRY_KEYS.index("enabled")
_KEYED_TYPES = frozenset({str, int, bool, type(None)})
_FLAG_TYPES = (bool, int)  # `enabled` as the drivers give it (SQLite: 0 or 1)
# Stands for a present own column (args, kwargs) in a row's key.
_OWN: Any = object()
# A row key is (_ROW, values): never equal to a mapping's key in the same SpecCache.
_ROW: Any = object()


class RowDecoder:
    """One read's rows (column values in :data:`ENTRY_KEYS` order) into entries."""

    __slots__ = ("_cache", "_defaults", "_file", "_routes", "_zone")

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
        # validate_entry's own cache (the defaults are checked once per read, not per row),
        # holding the rows' templates beside the mappings'.
        self._cache = SpecCache()

    def add_rows(
        self, rows: Iterable[Sequence[Any]], entries: dict[str, Entry], problems: list[Problem]
    ) -> None:
        """The entries of ``rows`` (a name, then the column values) into ``entries``, and
        the problems of the invalid ones into ``problems`` (a full read: a million rows)."""
        template_of, valid_name, entry_of = self._cache.get, NAME.fullmatch, self.entry
        for row in rows:
            name, values = row[0], row[1:]
            # The common row, alike to an earlier one with nothing of its own and a name that
            # fits: what entry() does for it, without its calls (a million rows).
            if values[_ARGS] is None and values[_KWARGS] is None:
                try:
                    template = template_of((_ROW, values))
                except TypeError:  # a value of a driver's own unhashable type
                    template = None
                if (
                    template is not None
                    and not template.own
                    and template.fits(name)
                    and valid_name(name)
                    and type(values[_ENABLED]) in _FLAG_TYPES
                ):
                    entries[name] = Entry.of(name, template.entry.spec)
                    continue
            entry = entry_of(name, values, problems)
            if entry is not None:
                entries[name] = entry

    def entry(self, name: str, values: Sequence[Any], problems: list[Problem]) -> Entry | None:
        """The entry of row ``name``, or None after adding its problems to ``problems``."""
        key = _row_key(values)
        try:
            template = self._cache.get(key)
        except TypeError:  # a value of a driver's own unhashable type: validated alone
            key = template = None
        if (
            template is None
            or not NAME.fullmatch(name)  # a bad name: reported as such
            or type(values[_ENABLED]) not in _FLAG_TYPES  # see _row_key
        ):
            entry, mapping = self._validate(name, values, problems)
            if entry is not None and mapping is not None and _keepable(values):
                self._cache.put(key, entry, mapping)
            return entry
        mapping, bad = values_to_mapping(name, values, file=self._file)
        if bad:
            problems.extend(bad)
            return None
        checker = Checker(self._file)
        entry = like_entry(checker, template, name, mapping, None, self._zone)
        problems.extend(checker.problems)
        return entry

    def _validate(
        self, name: str, values: Sequence[Any], problems: list[Problem]
    ) -> tuple[Entry | None, Mapping[str, Any] | None]:
        """The row's entry and its mapping, or (None, None) after reporting its problems."""
        mapping, bad = values_to_mapping(name, values, file=self._file)
        if bad:
            problems.extend(bad)
            return None, None
        try:
            entry = validate_entry(
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
            return None, None
        return entry, mapping


def _row_key(values: Sequence[Any]) -> Any:
    """The key of a row's template: its values, with present own columns as :data:`_OWN`.

    A template is kept only under a key whose values are all text, NULL or whole numbers
    (:func:`_keepable`), so a row equal to a kept key has text where it has text and NULL
    where it has NULL; only ``enabled`` could then be another number equal to 0 or 1 (1.0, a
    driver's decimal): such a row is told by its type (see the module doc)."""
    if values[_ARGS] is None and values[_KWARGS] is None:
        return (_ROW, values)
    own = tuple(None if v is None else _OWN for v in values[_ARGS : _KWARGS + 1])
    return (_ROW, (*values[:_ARGS], *own, *values[_KWARGS + 1 :]))


def _keepable(values: Sequence[Any]) -> bool:
    """Whether a template may be kept under this row's key (see :func:`_row_key`)."""
    return _KEYED_TYPES.issuperset(map(type, values))
