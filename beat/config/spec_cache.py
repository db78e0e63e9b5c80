"""Entries validated once per distinct set of settings (:class:`SpecCache`, issue 17): the
cache of :func:`beat.config.entry.check_entry`, which also checks what each entry has of its
own (see :func:`beat.config.entry.check_like`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from beat.config.checker import Checker
from beat.entries import Entry, EntrySpec, Schedule

_EXACT = frozenset({str, int, bool, type(None)})
# Settings validated per entry even when the rest is shared: their values are often unique to
# the entry (``kwargs: {id: 17}``), and checking them alone is cheap.
_OWN = ("args", "kwargs")


class _Own:
    """Stands for an own setting's value in a SpecCache key (its type, too)."""


_OWN_VALUE = _Own()
_EXACT_OR_OWN = _EXACT | {_Own}
_UNKNOWN: Any = object()  # a mapping not keyed yet (None is a key: validated alone)


class SpecCache:
    """Entries already validated, by everything but their name: a fleet of 1,000,000 entries
    written as a few hundred distinct settings validates a few hundred of them, and every
    other entry is a copy under its own name (issue 17: no per-entry work that can wait).

    The key is the entry's flat settings (scalars, with their types); ``args`` and ``kwargs``
    count only as present, and are checked for each entry
    (:func:`~beat.config.entry.check_like`), as are what depends on the name: an ``H``
    schedule, and whether the largest message still fits with this name's length. Only a
    template that validated cleanly is kept. One cache serves one load: the zone and defaults
    are part of the key by identity.

    ``shared``: the entries' mappings are shared and never changed (the start-up cache's, one
    per distinct setting): each mapping's key is computed once and remembered by identity.

    A source whose entries have a form of their own may key templates by it too (the SQL
    source: a row's column values, see :mod:`beat.sources.sql.shapes`), through
    :meth:`get` and :meth:`put`; :func:`beat.config.entry.like_entry` then makes an entry from
    the template with the same rules as for a mapping.
    """

    __slots__ = ("_defaults", "_entries", "_held", "_keys", "_same")

    def __init__(self, shared: bool = False) -> None:
        self._entries: dict[tuple[Any, ...], Template] = {}
        self._defaults: tuple[object, dict[str, Any]] | None = None
        # id(mapping) -> its key; the mappings are held, so that no id is reused.
        self._keys: dict[int, Any] | None = {} if shared else None
        self._held: list[Mapping[Any, Any]] = []
        # Each distinct key once, kept for every mapping that has it (see key).
        self._same: dict[Any, Any] = {}

    def defaults(
        self, raw: Mapping[str, Any], check: Callable[[Checker, Any, int | None], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """``raw`` defaults checked once for all calls by ``check`` (the entry module's
        ``check_defaults``, passed in: that module imports this one); None if they have
        problems: then each call reports them."""
        if self._defaults is None or self._defaults[0] is not raw:
            checker = Checker("")
            parsed = check(checker, raw, None)
            if checker.problems:
                return None
            self._entries.clear()  # built with other defaults (whose id may come again)
            if self._keys is not None:
                self._keys.clear()
                self._held.clear()
                self._same.clear()
            self._defaults = (raw, parsed)
        return self._defaults[1]

    def key(self, data: Mapping[Any, Any], zone: ZoneInfo, defaults: object, source: str) -> Any:
        """The key of ``data``'s template (None: ``data`` is validated alone). A shared
        cache serves one zone and source (one load) and forgets its keys with its defaults."""
        keys = self._keys
        if keys is None:
            return self._key(data, zone, defaults, source)
        key = keys.get(id(data), _UNKNOWN)
        if key is _UNKNOWN:
            key = self._key(data, zone, defaults, source)
            # Mappings of entries with arguments of their own (kwargs: {id: 17}) are one
            # entry's each, and their keys alike: one key kept for all, not a key each (~500
            # bytes) kept among the entries being built until the load ends, which left the
            # heap around them unreturned (issue 17: 40 MB at a 1,000,000-entry restart).
            if key is not None:
                key = self._same.setdefault(key, key)
            keys[id(data)] = key
            self._held.append(data)  # so that its id is not another mapping's
        return key

    @staticmethod
    def _key(data: Mapping[Any, Any], zone: ZoneInfo, defaults: object, source: str) -> Any:
        # The values' types beside the items: only values equal exactly when they read the
        # same (not 1.0 == 1, or one instant written with two offsets); other nested values
        # make the entry validated alone. map/issuperset: once per entry, so in C (issue 17).
        types = tuple(map(type, data.values()))
        if _EXACT.issuperset(types):
            return (zone, id(defaults), source, tuple(data.items()), types)
        own = {key: _OWN_VALUE for key in _OWN if key in data}
        if not own:
            return None
        flat = {**data, **own}  # in the entry's order, its own settings' values left out
        types = tuple(map(type, flat.values()))
        if not _EXACT_OR_OWN.issuperset(types):
            return None
        return (zone, id(defaults), source, tuple(flat.items()), types)

    def get(self, key: Any) -> Template | None:
        return self._entries.get(key) if key is not None else None

    def put(self, key: Any, entry: Entry, data: Mapping[Any, Any]) -> None:
        if key is not None and len(self._entries) < 65536:
            own = any(k in data for k in _OWN) or hashed_by_name(data)
            self._entries[key] = Template(entry, own)


def hashed_by_name(data: Mapping[Any, Any]) -> bool:
    """Whether the entry ``data`` may have an ``H`` schedule, whose fires depend on its name
    (``H``, or a word with an h: built again for each entry)."""
    cron = data.get("cron")
    return isinstance(cron, str) and "h" in cron.lower()


class Template:
    """A cleanly validated entry whose settings others share (see :class:`SpecCache`)."""

    __slots__ = ("arguments", "entry", "longest", "own", "schedules")

    def __init__(self, entry: Entry, own: bool) -> None:
        self.entry = entry
        # Whether each entry has settings of its own to check (arguments, an H schedule).
        self.own = own
        # The longest name whose largest message is known to fit (the name is in it). A valid
        # name is written in JSON as it is, so a shorter one makes a shorter message.
        self.longest = len(entry.name)
        # By id: the spec of this template with each schedule (held) H entries were given.
        self.schedules: dict[int, tuple[Schedule, EntrySpec]] = {}
        # By their text: the spec of this template with each arguments entries were given.
        self.arguments = {(repr(entry.args), repr(entry.kwargs), id(entry.spec)): entry.spec}

    def fits(self, name: str) -> bool:
        """Whether the largest message of entry ``name`` (a valid name) is known to fit."""
        return len(name) <= self.longest

    def fitted(self, name: str) -> None:
        """Entry ``name``'s largest message was measured and fits."""
        self.longest = max(self.longest, len(name))

    def with_schedule(self, schedule: Schedule) -> EntrySpec:
        """The template's spec with ``schedule`` (an H entry's, shared by every entry whose
        name resolves alike: see beat.time.schedules.shared_cron), made once for each."""
        found = self.schedules.get(id(schedule))
        if found is None:
            if len(self.schedules) >= 4096:  # bounded like the schedules shared
                self.schedules.clear()
            spec = self.entry.replace(schedule=schedule).spec
            found = self.schedules[id(schedule)] = (schedule, spec)
        return found[1]

    def with_arguments(self, changes: dict[str, Any]) -> EntrySpec:
        """The template's spec with ``changes`` (args, kwargs, an H schedule: an entry's
        own), made once for each arguments (keyed by their text, as beat.entries shares
        specs: ``[true]`` is not ``[1]``) and schedule."""
        base = self.with_schedule(changes["schedule"]) if "schedule" in changes else self.entry.spec
        args, kwargs = changes.get("args", base.args), changes.get("kwargs", base.kwargs)
        key = (repr(args), repr(kwargs), id(base))
        spec = self.arguments.get(key)
        if spec is None:
            if len(self.arguments) >= 4096:  # bounded: arguments are often each entry's own
                self.arguments.clear()
            spec = self.arguments[key] = replace(base, args=args, kwargs=kwargs)
        return spec
