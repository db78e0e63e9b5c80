"""The schedule entry: what to send, where, and when.

Both sources (``schedules.yaml`` and SQL) produce :class:`Entry` values; the planner and the
service only ever see entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo


class Schedule(Protocol):
    """A pure schedule: it never reads the clock."""

    @property
    def zone(self) -> ZoneInfo:
        """The IANA zone whose wall clock the schedule follows."""
        ...

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire strictly after ``after`` (aware), as an aware UTC instant; None if
        there is none (a one-off that has passed)."""
        ...

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Every fire strictly after ``after``, in increasing order (aware UTC instants)."""
        ...

    def anchored(self, first_seen: datetime) -> Schedule:
        """This schedule with its phase fixed: an interval with no ``start`` anchors at
        ``first_seen``; every other kind returns itself."""
        ...

    def describe(self) -> str:
        """A short human description, e.g. ``cron '30 2 * * *'`` or ``every 30s``."""
        ...


class CatchUp(StrEnum):
    LATEST = "latest"
    ALL = "all"
    NONE = "none"


# --- run policies (overlap, pause_on_failure) ----------------------------------------------
class Overlap(StrEnum):
    """What a fire does while the entry's previous fire is still queued, running or retrying
    (decided by the leader from the broker's task state: :mod:`beat.overlap`)."""

    ALLOW = "allow"  # sent anyway (the default)
    SKIP = "skip"  # not sent; recorded as skipped with the id it waited on
    BUFFER_ONE = "buffer_one"  # at most one waits, sent when the previous one ends


# --- end of run policies --------------------------------------------------------------------

# `catch_up: all` replays at most this many missed fires per entry, like Kubernetes CronJobs.
CATCH_UP_ALL_LIMIT = 100
DEFAULT_GRACE = timedelta(minutes=1)
DEFAULT_QUEUE = "default"


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-entry message options; None means "the task's own default"."""

    priority: int | None = None
    expires: timedelta | None = None  # counted from the scheduled instant
    soft_time_limit: timedelta | None = None
    time_limit: timedelta | None = None
    max_retries: int | None = None
    retry_backoff: timedelta | None = None
    retry_backoff_max: timedelta | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.total_seconds() if isinstance(value, timedelta) else value
        return out


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """Everything an entry is but its name. Entries that differ only by name share one spec
    (the config's SpecCache copies an entry under another name by reusing its spec), and with
    it the content digest: a million entries of a few hundred settings hold a few hundred
    specs (issue 17: the per-entry record is a name and a reference)."""

    task: str
    schedule: Schedule
    queue: str = DEFAULT_QUEUE
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: TaskOptions = TaskOptions()
    catch_up: CatchUp = CatchUp.LATEST
    grace: timedelta = DEFAULT_GRACE
    enabled: bool = True
    # The largest delay added to each fire's send time (beat/time/jitter.py); 0: none.
    jitter: timedelta = timedelta(0)
    source: str = "yaml"  # "yaml" or the SQL source's redacted URL
    # Run policies (beat.overlap): what a fire does while the previous one runs, and whether a
    # failed fire pauses the entry.
    overlap: Overlap = Overlap.ALLOW
    pause_on_failure: bool = False

    # Cached digest (see content_hash); not part of the spec's identity.
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def content_hash(self) -> str:
        """See :meth:`Entry.content_hash` (the name is not part of it)."""
        digest = self._digest
        if digest is None:
            if not self.args and not self.kwargs:
                digest = self._shared_digest()
            if digest is None:
                digest = self._compute_digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    def _shared_digest(self) -> str | None:
        """Specs equal in content have one digest: computed once, kept once. The key is every
        field but the source (so a field added later is in it), with the schedule as the
        digest sees it: its text and zone (equal instants can be written with other offsets),
        not the object, so ``H`` entries whose names resolve apart still share their digest."""
        key = (
            self.schedule.describe(),
            self.schedule.zone.key,
            *[getattr(self, f) for f in self.__slots__ if f not in _NOT_CONTENT],
        )
        try:
            digest = _SHARED_DIGESTS.get(key)
        except TypeError:  # an unhashable value: this spec's digest is not shared
            return None
        if digest is None:
            if len(_SHARED_DIGESTS) >= 4096:
                _SHARED_DIGESTS.clear()
            digest = _SHARED_DIGESTS[key] = self._compute_digest()
        return digest

    def _compute_digest(self) -> str:
        try:
            kwargs: object = sorted(self.kwargs.items())
        except TypeError:  # keys of mixed types cannot be sorted; order then matters
            kwargs = list(self.kwargs.items())
        payload: tuple[Any, ...] = (
            self.task,
            self.schedule.describe(),
            self.schedule.zone.key,
            self.queue,
            tuple(self.args),
            kwargs,
            sorted(self.options.as_dict().items()),
            self.catch_up.value,
            self.grace.total_seconds(),
        )
        if self.jitter:  # only then: existing entries keep their hash (no false "edit")
            payload += (("jitter", self.jitter.total_seconds()),)
        if self.overlap is not Overlap.ALLOW or self.pause_on_failure:
            # Only when set: the digests of entries without run policies stay as they were
            # (a changed digest is an edit, and an edit is a boundary for missed fires).
            payload += (self.overlap.value, self.pause_on_failure)
        try:  # hashlib's own blake2b, without the OpenSSL set-up of importing hashlib (~2.5 ms)
            from _blake2 import blake2b
        except ImportError:  # a Python built without its own blake2
            from hashlib import blake2b

        return blake2b(repr(payload).encode(), digest_size=16).hexdigest()


_SPEC_FIELDS = tuple(f for f in EntrySpec.__slots__ if f != "_digest")
# Specs by content: entries built one by one (settings the config's SpecCache does not take,
# like `args: [1]`, or entries made in code) share one spec when their settings are equal.
# Arguments are keyed by their text: `args: [true]` is not `args: [1]` (True == 1), and kwargs
# are a dict; one instant written with two offsets is two schedules (their text differs).
# Specs with arguments have a table of their own, smaller: arguments are often each entry's
# own (`kwargs: {id: 17}`), and 50,000 of them cleared the one table every 16,384 and with it
# the few thousand specs without arguments (H ones: each then built again, once per clearing).
_SPECS: dict[tuple[Any, ...], EntrySpec] = {}
_ARG_SPECS: dict[tuple[Any, ...], EntrySpec] = {}
_KEYED = tuple(f for f in _SPEC_FIELDS if f not in ("args", "kwargs"))


def _intern(spec: EntrySpec) -> EntrySpec:
    key = (
        repr(spec.args),
        repr(spec.kwargs),
        spec.schedule.describe(),
        *[getattr(spec, f) for f in _KEYED],
    )
    table, bound = (_ARG_SPECS, 4096) if spec.args or spec.kwargs else (_SPECS, 16384)
    try:
        return table.setdefault(key, spec)
    except TypeError:  # an unhashable value (a schedule made in code): this spec is its own
        return spec
    finally:
        if len(table) >= bound:  # bounded: a fleet of distinct settings shares nothing anyway
            table.clear()


class Entry:
    """One schedule entry: its name and its :class:`EntrySpec` (frozen; equal when both are).

    Two slots per entry (56 bytes against 152 for a dataclass of every field): the fields read
    through to the spec, so ``entry.task`` and friends work as on a dataclass.
    """

    __slots__ = ("name", "spec")
    name: str
    spec: EntrySpec

    def __init__(
        self,
        name: str,
        task: str,
        schedule: Schedule,
        queue: str = DEFAULT_QUEUE,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: TaskOptions = TaskOptions(),
        catch_up: CatchUp = CatchUp.LATEST,
        grace: timedelta = DEFAULT_GRACE,
        enabled: bool = True,
        jitter: timedelta = timedelta(0),
        source: str = "yaml",
        overlap: Overlap = Overlap.ALLOW,
        pause_on_failure: bool = False,
    ) -> None:
        spec = EntrySpec(
            task, schedule, queue, args, {} if kwargs is None else kwargs, options, catch_up,
            grace, enabled, jitter, source, overlap, pause_on_failure,
        )  # fmt: skip
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "spec", _intern(spec))

    @classmethod
    def of(cls, name: str, spec: EntrySpec) -> Entry:
        """The entry ``name`` with ``spec`` (shared, not copied)."""
        # The slots' own setters, not object.__setattr__ (looked up by name): a million
        # entries are made at start-up.
        entry = _new(cls)
        _set_name(entry, name)
        _set_spec(entry, spec)
        return entry

    def replace(self, **changes: Any) -> Entry:
        """This entry with ``changes`` (field names); a rename alone keeps the spec."""
        name = changes.pop("name", self.name)
        if not changes:
            return Entry.of(name, self.spec)
        spec = self.spec
        if not changes.keys() <= _SPEC_FIELD_SET:
            return Entry.of(name, _intern(replace(spec, **changes)))  # its TypeError
        # dataclasses.replace, without its checks per field (an H cron entry or one with
        # arguments of its own is made this way for each such row at start-up).
        fields = [changes[f] if f in changes else getattr(spec, f) for f in _SPEC_FIELDS]
        return Entry.of(name, _intern(EntrySpec(*fields)))

    def __setattr__(self, key: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {key!r}")

    def __delattr__(self, key: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {key!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Entry:
            return NotImplemented
        assert isinstance(other, Entry)
        return self.name == other.name and self.spec == other.spec

    def __hash__(self) -> int:
        return hash((self.name, self.spec))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self.spec, f)!r}" for f in _SPEC_FIELDS)
        return f"Entry(name={self.name!r}, {fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Entry.of, (self.name, self.spec))

    # The spec's fields, read through (typed one by one for mypy).
    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def schedule(self) -> Schedule:
        return self.spec.schedule

    @property
    def queue(self) -> str:
        return self.spec.queue

    @property
    def args(self) -> tuple[Any, ...]:
        return self.spec.args

    @property
    def kwargs(self) -> Mapping[str, Any]:
        return self.spec.kwargs

    @property
    def options(self) -> TaskOptions:
        return self.spec.options

    @property
    def catch_up(self) -> CatchUp:
        return self.spec.catch_up

    @property
    def grace(self) -> timedelta:
        return self.spec.grace

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    @property
    def jitter(self) -> timedelta:
        return self.spec.jitter

    @property
    def source(self) -> str:
        return self.spec.source

    @property
    def overlap(self) -> Overlap:
        return self.spec.overlap

    @property
    def pause_on_failure(self) -> bool:
        return self.spec.pause_on_failure

    def content_hash(self) -> str:
        """A stable digest of everything that defines the entry's behaviour.

        Stored in the run state: when it changes the entry was edited, and its next fire is
        recomputed from the edit instead of from the old schedule's last fire. Computed once
        per spec (start-up hashes every entry, so it must be cheap: repr, not sorted JSON).
        """
        return self.spec.content_hash()


_new = object.__new__
_set_name = Entry.__dict__["name"].__set__
_set_spec = Entry.__dict__["spec"].__set__
_SPEC_FIELD_SET = frozenset(_SPEC_FIELDS)

# Digests of argument-less entries by everything that defines them (see content_hash).
_SHARED_DIGESTS: dict[tuple[Any, ...], str] = {}
_NOT_CONTENT = frozenset({"source", "args", "kwargs", "_digest", "schedule"})
