"""The schedule entry: what to send, where, and when.

Both sources (``schedules.yaml`` and SQL) produce :class:`Entry` values; the planner and the
service only ever see entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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
class Entry:
    name: str
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

    # Cached digest (see content_hash); not part of the entry's identity.
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def content_hash(self) -> str:
        """A stable digest of everything that defines the entry's behaviour.

        Stored in the run state: when it changes the entry was edited, and its next fire is
        recomputed from the edit instead of from the old schedule's last fire. Computed once
        per entry (start-up hashes every entry, so it must be cheap: repr, not sorted JSON).
        """
        digest = self._digest
        if digest is None:
            if not self.args and not self.kwargs:
                digest = self._shared_digest()
            if digest is None:
                digest = self._compute_digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    def _shared_digest(self) -> str | None:
        """Entries that differ only by name have one digest: computed once, kept once. The
        key is every field but the name and source (so a field added later is in it), plus
        the schedule's text (equal instants can be written with other offsets)."""
        key = (
            self.schedule.describe(),
            self.schedule.zone.key,
            *[getattr(self, f) for f in self.__slots__ if f not in _NOT_CONTENT],
        )
        try:
            digest = _SHARED_DIGESTS.get(key)
        except TypeError:  # an unhashable value: this entry's digest is not shared
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


# Digests of argument-less entries by everything that defines them (see content_hash).
_SHARED_DIGESTS: dict[tuple[Any, ...], str] = {}
_NOT_CONTENT = frozenset({"name", "source", "args", "kwargs", "_digest"})
