"""Entries validated while ``schedules.yaml`` is read, so their YAML trees never pile up.

A file of 1,000,000 entries is about 1 KB of YAML tree per entry, against about 150 bytes per
validated :class:`~beat.entries.Entry`: holding every tree until the end would cost a
gigabyte at the peak (and the process keeps that memory). :class:`EntryStream` is the sink
of :class:`~daemonkit.yaml_tree.TreeBuilder`: each entry is checked when its mapping ends,
with the ``timezone:`` and ``defaults:`` read so far, and only its :class:`Entry` is kept.

That is only right when those keys (and ``routes:``) come before ``entries:`` (they usually do). The
loader checks afterwards (:meth:`EntryStream.valid_for`) and otherwise reads the file again
the ordinary way, so the answer never depends on the order of the keys.

An entry whose settings are written with the very text of an earlier valid one's (a
:class:`~daemonkit.yaml_tree.RepeatSink`) is that entry under its own name: not built nor
checked again but for what its name decides (the name itself, whether its largest message
still fits, and an ``H`` schedule: :func:`~beat.config.entry.like_entry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from beat.config.checker import NAME, Checker
from beat.config.entry import SpecCache, check_defaults, check_entry, like_entry
from beat.config.model import UTC_ZONE
from beat.config.routes_section import check_routes
from beat.config.spec_cache import Template, hashed_by_name
from beat.entries import Entry
from daemonkit.yaml_tree import Lined
from taskqueue.routes import Route


class _Invalid:
    """The type of :data:`INVALID`."""


# What the entries mapping holds for an entry streamed and found invalid (problems reported).
INVALID: Any = _Invalid()
_MISSING: Any = object()


class EntryStream:
    """The sink for the ``entries:`` values; see the module docstring."""

    def __init__(self, file: str) -> None:
        self.checker = Checker(file)  # the entries' problems, merged in when the stream is used
        self._settings: tuple[ZoneInfo, Mapping[str, Any], tuple[Route, ...]] | None = None
        # The timezone, defaults and routes values the entries were checked with (by identity).
        self._seen: tuple[Any, Any, Any] = (_MISSING, _MISSING, _MISSING)
        self.cache = SpecCache()
        self.off = False  # settings that could not be read cleanly: leave it to the loader
        # By id of an entry another may repeat (held by the builder): the template the
        # repeats are made from (like_entry: the longest name known to fit, and for one whose
        # H schedule each name decides, the SpecCache's template).
        self._templates: dict[int, Template] = {}

    def __call__(self, root: Lined, name: Any, data: Any, line: int) -> Any:
        settings = self._settings
        if settings is None:
            settings = self._settings = self._read_settings(root)
        if self.off:
            return data
        zone, defaults, routes = settings
        entry = check_entry(
            self.checker, name, data, line, zone, defaults, "yaml", routes=routes, cache=self.cache
        )
        return INVALID if entry is None else entry

    def shares(self, value: Lined, taken: Any) -> bool:
        """Whether the entry ``taken`` serves the entries written as ``value`` was (see the
        module docstring)."""
        if self.off or not isinstance(taken, Entry) or self._settings is None:
            return False
        if hashed_by_name(value):
            zone, defaults, _ = self._settings
            template = self.cache.get(self.cache.key(value, zone, defaults, "yaml"))
            if template is None or not template.own:
                return False
        else:  # the very text: its arguments too, nothing of its own to check again
            template = Template(taken, own=False)
        self._templates[id(taken)] = template
        return True

    def again(
        self, root: Lined, name: str, taken: Entry, value: Callable[[], Lined], line: int
    ) -> Any:
        """The entry ``name``, written as ``taken`` was."""
        if not NAME.fullmatch(name):
            return self(root, name, value(), line)  # checked as ever: its problem named
        assert self._settings is not None
        template = self._templates[id(taken)]
        if not template.own and template.fits(name):
            # like_entry's answer, without building the repeat's mapping (most repeats).
            return Entry.of(name, template.entry.spec)
        entry = like_entry(self.checker, template, name, value(), line, self._settings[0])
        return INVALID if entry is None else entry

    def _read_settings(self, root: Lined) -> tuple[ZoneInfo, Mapping[str, Any], tuple[Route, ...]]:
        self._seen = (
            root.get("timezone", _MISSING),
            root.get("defaults", _MISSING),
            root.get("routes", _MISSING),
        )
        scratch = Checker(self.checker.file)
        zone = UTC_ZONE
        if root.get("timezone") is not None:
            zone = scratch.zone(root, "timezone", "") or zone
        defaults = check_defaults(scratch, root.get("defaults"), scratch.line_of(root, "defaults"))
        routes = check_routes(scratch, root)
        self.off = bool(scratch.problems)
        return zone, defaults, routes

    def valid_for(self, root: Mapping[Any, Any]) -> bool:
        """Whether the streamed entries were checked with ``root``'s final settings."""
        if self._settings is None or self.off:
            return True  # nothing was streamed
        final = (
            root.get("timezone", _MISSING),
            root.get("defaults", _MISSING),
            root.get("routes", _MISSING),
        )
        return all(f is s for f, s in zip(final, self._seen, strict=True))


def streamed(value: Any) -> bool:
    """Whether an entries value was already checked by the stream (an Entry, or INVALID)."""
    return value is INVALID or isinstance(value, Entry)


_STREAMED = frozenset((Entry, _Invalid))  # the types of values the stream checked


def all_streamed(values: Iterable[Any]) -> bool:
    """Whether every one of the entries ``values`` is :func:`streamed`."""
    return _STREAMED.issuperset(map(type, values))
