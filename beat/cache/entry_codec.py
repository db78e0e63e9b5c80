"""An :class:`~beat.entries.Entry` as JSON and back, for the caches of :mod:`beat.cache`.

:func:`encode_spec` keeps an entry's spec only when its JSON form decodes to an equal spec with
the same content hash (args that JSON cannot hold exactly, a schedule kind this module does not
know: not cached), so a cache hit is the entry the configuration defines. :func:`decode_entry`
reads an untrusted document: schedules come from a fixed list of classes, built through their
own constructors (which validate), and any malformed value raises (the caller's miss).
Importing this module imports no schedule kind: one is imported when an entry of it is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from beat.entries import CatchUp, Entry, EntrySpec, Overlap, TaskOptions

# A schedule kind's tag -> its module and class (imported on first use: beat.time.solar only
# for a solar entry). Cron is written as [expr, zone, name]; the others by their init fields.
_KINDS = {
    "cron": ("beat.time.schedules", "Cron"),
    "interval": ("beat.time.schedules", "Interval"),
    "calendar": ("beat.time.schedules", "Calendar"),
    "once": ("beat.time.schedules", "Once"),
    "bounded": ("beat.time.bounds", "Bounded"),
    "solar": ("beat.time.solar", "Solar"),
}
_TAGS = {f"{module}.{name}": tag for tag, (module, name) in _KINDS.items()}


def encode_spec(spec: EntrySpec) -> dict[str, Any] | None:
    """``spec`` (an entry but its name) as JSON values, or None when those would not read back
    as ``spec``: equal, with the same repr (so an offset or a type that compares equal but
    reads differently is caught) and the same content hash. Entries that differ only by name
    share one spec (:class:`EntrySpec`): a cache holds and checks each spec once."""
    import json

    try:
        back = decode_spec(json.loads(json.dumps(data := _encode(spec))))
    except Exception:  # anything JSON or a constructor refuses: the entry is not cached
        return None
    same = back == spec and repr(back) == repr(spec)
    return data if same and back.content_hash() == spec.content_hash() else None


def spec_table(
    entries: Iterable[Entry],
    encode: Callable[[Entry], Any],
    same: Callable[[Entry], Hashable] = lambda entry: id(entry.spec),
) -> tuple[list[Any], list[int]]:
    """The table of a cache of many entries: each distinct spec encoded once (``encode``, None
    when it cannot be), and each entry as the index of its spec, -1 when not encoded. Specs
    are told apart by identity, then by ``same`` (the start-up cache merges entries that
    differ only by what their name decides)."""
    specs: list[Any] = []
    positions: list[int] = []
    by_spec: dict[int, int] = {}
    by_same: dict[Hashable, int] = {}
    for entry in entries:
        at = by_spec.get(id(entry.spec))
        if at is None:
            alike = same(entry)
            at = by_same.get(alike)
            if at is None:
                encoded = encode(entry)
                at = by_same[alike] = -1 if encoded is None else len(specs)
                if encoded is not None:
                    specs.append(encoded)
            by_spec[id(entry.spec)] = at
        positions.append(at)
    return specs, positions


def decode_entry(name: str, data: Any) -> Entry:
    """The entry ``name`` with the spec :func:`encode_spec` wrote as ``data``; raises on
    anything malformed."""
    return Entry.of(name, decode_spec(data))


def decode_spec(data: Any) -> EntrySpec:
    """:func:`encode_spec`'s inverse, a new spec (not interned: the cache of many entries
    decodes each spec once and gives it to each of its entries with :meth:`Entry.of`)."""
    options = {key: _value(value) for key, value in _typed(data["options"], dict).items()}
    return EntrySpec(
        _typed(data["task"], str),
        _schedule(data["schedule"]),
        queue=_typed(data["queue"], str),
        args=tuple(_typed(data["args"], list)),
        kwargs=_typed(data["kwargs"], dict),
        options=TaskOptions(**options),
        catch_up=CatchUp(data["catch_up"]),
        grace=_value(data["grace"]),
        enabled=_typed(data["enabled"], bool),
        jitter=_value(data["jitter"]),
        source=_typed(data["source"], str),
        overlap=Overlap(data["overlap"]),
        pause_on_failure=_typed(data["pause_on_failure"], bool),
    )


def _encode(entry: EntrySpec) -> dict[str, Any]:
    given = {key: getattr(entry.options, key) for key in TaskOptions.__slots__}
    options = {key: _plain(value) for key, value in given.items() if value is not None}
    return {
        "task": entry.task,
        "schedule": _encode_schedule(entry.schedule),
        "queue": entry.queue,
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": options,
        "catch_up": entry.catch_up.value,
        "grace": _plain(entry.grace),
        "enabled": entry.enabled,
        "jitter": _plain(entry.jitter),
        "source": entry.source,
        "overlap": entry.overlap.value,
        "pause_on_failure": entry.pause_on_failure,
    }


def _encode_schedule(schedule: Any) -> list[Any]:
    kind = type(schedule)
    tag = _TAGS[f"{kind.__module__}.{kind.__qualname__}"]  # KeyError: a kind not cached
    if tag == "cron":
        return [tag, schedule.expr, schedule.zone.key, schedule.name]
    from dataclasses import fields

    values = {f.name: _plain(getattr(schedule, f.name)) for f in fields(schedule) if f.init}
    return [tag, values]


def _plain(value: Any) -> Any:
    """A schedule's or option's value as JSON: tagged unless it is a JSON scalar."""
    from zoneinfo import ZoneInfo

    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, timedelta):
        return {"timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, ZoneInfo):
        return {"zone": value.key}
    if isinstance(value, datetime | date | time):  # datetime before date: it is one
        return {type(value).__name__: value.isoformat()}
    return {"schedule": _encode_schedule(value)}  # Bounded's inner schedule


def _value(value: Any) -> Any:
    """:func:`_plain`'s inverse."""
    if not isinstance(value, dict):
        if value is None or isinstance(value, str | int | float):
            return value
        raise ValueError(f"unexpected {type(value).__name__} in a cached schedule")
    ((tag, inner),) = value.items()
    if tag == "timedelta":
        days, seconds, microseconds = (_typed(x, int) for x in inner)
        return timedelta(days, seconds, microseconds)
    if tag == "zone":
        from beat.time import zones

        return zones.get(_typed(inner, str))
    if tag == "datetime":
        return datetime.fromisoformat(_typed(inner, str))
    if tag == "date":
        return date.fromisoformat(_typed(inner, str))
    if tag == "time":
        return time.fromisoformat(_typed(inner, str))
    if tag == "schedule":
        return _schedule(inner)
    raise ValueError(f"unknown tag {tag!r} in a cached schedule")


def _schedule(data: Any) -> Any:
    tag, *rest = _typed(data, list)
    module, name = _KINDS[tag]
    kind = getattr(__import__(module, fromlist=[name]), name)
    if tag == "cron":
        from beat.time import zones

        expr, zone, hashed = (_typed(x, str) for x in rest)
        return kind(expr, zones.get(zone), name=hashed)
    (values,) = rest
    return kind(**{key: _value(value) for key, value in _typed(values, dict).items()})


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value
