"""The pure schedules of SPEC 5: Cron, Interval, Calendar and Once.

Every method takes the instant it reasons about as an argument (none reads the clock), accepts
only aware datetimes and returns aware UTC instants. Cron field parsing lives in
``beat/time/cron_fields.py``, the minute search in ``beat/time/cron_match.py`` and the DST policy in
``beat/time/cron_dst.py``.

APScheduler 3.11's CalendarIntervalTrigger is not used for calendar intervals: it skips a
date whose time of day falls in a DST gap, where SPEC 5's fixed-time rule fires at the
instant of the change, and it can only step from a previous fire, not answer "the first fire
after t".

An :class:`Interval` without ``start`` must be anchored (``anchored(first_seen)``) before
asking for fires: ``next_after`` on an unanchored interval raises :class:`ScheduleError`
rather than silently anchoring at the question's instant, which would move the phase.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, Self
from zoneinfo import ZoneInfo

from beat.errors import ScheduleError

if TYPE_CHECKING:
    from beat.time.cron_fields import CronSpec
    from beat.time.cron_match import Matcher

# The cron modules (beat.time.cron_dst, cron_fields, cron_match) are imported by the first
# Cron, Calendar or Once that needs them: a configuration of `every:` entries, and `beat next`
# on one, import none of them (issue 17).

__all__ = ["Calendar", "Cron", "Interval", "Once", "Walked", "iter_fires"]

_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "Etc/Zulu"})


def _aware(value: datetime, what: str) -> datetime:
    tz = value.tzinfo
    if tz is UTC:
        return value
    if tz is None or value.utcoffset() is None:
        raise ScheduleError(what, f"naive datetime {value.isoformat()} (give a UTC offset)")
    return value.astimezone(UTC)


_LAST_YEAR = datetime.max.year


def _shown_in(instant: datetime, zone: ZoneInfo) -> bool:
    """False for an instant of year 9999 whose local time in ``zone`` is past datetime's range
    (it could be neither shown nor stored as local time)."""
    try:
        instant.astimezone(zone)
    except OverflowError:
        return False
    return True


def iter_fires(schedule: _NextAfter, after: datetime) -> Iterator[datetime]:
    """``iter_after`` of every schedule kind: ``next_after`` from ``after``, then from each fire."""
    fire = schedule.next_after(after)
    while fire is not None:
        yield fire
        fire = schedule.next_after(fire)


class _NextAfter(Protocol):
    def next_after(self, after: datetime) -> datetime | None: ...


class Walked:
    """What every schedule kind shares: ``iter_after`` walks ``next_after``, and ``anchored``
    is the schedule itself (an Interval without ``start`` overrides it). A mixin with no
    fields, so the slotted dataclasses stay slotted."""

    __slots__ = ()

    def next_after(self, after: datetime) -> datetime | None:
        raise NotImplementedError

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        return iter_fires(self, after)

    def anchored(self, first_seen: datetime) -> Self:
        return self


# --- cron -----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _matcher(normalized: str, name: str) -> Matcher:
    """One compiled matcher per distinct expression (and entry name, for ``H``)."""
    from beat.time.cron_fields import parse

    matcher, fires = _spec_matcher(parse(normalized, name))
    # The calendar repeats every 400 years, so a pattern with no day from 2000 on never fires
    # (e.g. the 1st AND the second Monday): say so now rather than never firing.
    if not fires:
        raise ScheduleError("day-of-month", f"no day ever matches {normalized!r}")
    return matcher


@lru_cache(maxsize=4096)
def _spec_matcher(spec: CronSpec) -> tuple[Matcher, bool]:
    """One matcher per resolved spec: ``H`` entries resolve to a few dozen distinct minutes
    and hours, so 50,000 of them share those (and the check below runs once for each)."""
    from beat.time.cron_match import Matcher

    matcher = Matcher(spec)
    return matcher, matcher.first_from(datetime(2000, 1, 1)) is not None


@lru_cache(maxsize=1 << 14)
def _next_cached(matcher: Matcher, zone: ZoneInfo, after: datetime) -> datetime | None:
    # Thousands of entries share an expression and a last fire; the daemon asks the same
    # question for each of them.
    if zone.key in _UTC_KEYS:
        found = matcher.first_fields(
            after.year, after.month, after.day, after.hour, after.minute + 1
        )
        return None if found is None else datetime(*found, tzinfo=UTC)
    from beat.time.cron_dst import next_cron

    try:
        return next_cron(matcher, zone, matcher.spec.wildcard, after)
    except OverflowError:
        # ``after`` or the next matching minute lies past year 9999 on one side of the
        # offset: no more fires, as when the search runs out of years.
        return None


def _hashed(expr: str) -> bool:
    """Whether ``expr`` uses ``H`` (its fires then depend on the entry's name)."""
    return any(item.startswith("h") for item in expr.lower().replace(",", " ").split())


def shared_cron(expr: str, zone: ZoneInfo, name: str = "") -> Cron:
    """``Cron(expr, zone, name)``, one object per expression, zone and resolved spec: a fleet
    of 1,000,000 entries on a few dozen expressions holds a few dozen schedules, and its
    ``H`` entries one per minute (or hour) their names resolve to, not one each, built once
    for each (what a name resolves ``H`` to is a fraction of building the schedule)."""
    if not _hashed(expr):
        return _shared_cron(expr, zone)
    from beat.time.cron_fields import hash_values

    resolved = (expr, zone, hash_values(expr, name))
    shared = _H_RESOLVED.get(resolved)
    if shared is not None:
        return shared
    cron = Cron(expr, zone, name)
    key = (cron.expr, zone, cron._matcher.spec)
    shared = _H_CRONS.get(key)
    if shared is None:
        if len(_H_CRONS) >= 4096:  # bounded: past that, sharing is only less complete
            _H_CRONS.clear()
            _H_RESOLVED.clear()
        shared = _H_CRONS[key] = cron
    if len(_H_RESOLVED) >= 16384:  # several resolutions may give one spec: its own bound
        _H_RESOLVED.clear()
    _H_RESOLVED[resolved] = shared
    return shared


# H schedules by (expression, zone, resolved spec): see shared_cron; and by what the names
# resolved H to, as written (each maps to the first).
_H_CRONS: dict[tuple[str, ZoneInfo, CronSpec], Cron] = {}
_H_RESOLVED: dict[tuple[str, ZoneInfo, tuple[str, ...]], Cron] = {}


@lru_cache(maxsize=4096)
def _shared_cron(expr: str, zone: ZoneInfo) -> Cron:
    return Cron(expr, zone)


class Cron(Walked):
    """A 5-field cron expression (or macro) evaluated on local wall-clock time in ``zone``.

    ``name`` (the entry's name) seeds the ``H`` extension. Two crons are equal when their
    expression (as written: ``describe`` shows it), zone and resolved fields are: ``H`` entries
    whose names resolve to the same minutes share one schedule (:func:`shared_cron`), whose
    ``name`` is then the first such entry's (any of them gives the same fires).
    """

    __slots__ = ("_matcher", "expr", "name", "zone")

    def __init__(self, expr: str, zone: ZoneInfo, name: str = "") -> None:
        # Interned: every `H` entry has its own Cron, but the text of its expression is shared.
        self.expr = sys.intern(" ".join(expr.split()))
        self.zone = zone
        # Only H depends on the name: without it, every entry with this expression shares one
        # matcher (and, through shared_cron, one Cron), so the name is not kept.
        self.name = name if _hashed(self.expr) else ""
        self._matcher = _matcher(self.expr, self.name)

    @property
    def is_wildcard(self) -> bool:
        """True when the minute or hour field starts with ``*`` (SPEC 5 wildcard job)."""
        return self._matcher.spec.wildcard

    def next_after(self, after: datetime) -> datetime | None:
        if after.tzinfo is not UTC:  # the daemon's instants are UTC already: skip the call
            after = _aware(after, "after")
        return _next_cached(self._matcher, self.zone, after)

    def describe(self) -> str:
        return f"cron '{self.expr}'"

    def first_local_match(self, wall: datetime) -> datetime | None:
        """The first matching local minute at or after naive ``wall`` (no DST rules)."""
        minute = wall.replace(second=0, microsecond=0)
        try:
            if minute < wall:
                minute += timedelta(minutes=1)
        except OverflowError:  # the last minute of year 9999 has passed
            return None
        return self._matcher.first_from(minute)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cron):
            return NotImplemented
        # The resolved spec, not the name: the name matters only through what H resolves to.
        return (self.expr, self.zone, self._matcher.spec) == (
            other.expr,
            other.zone,
            other._matcher.spec,
        )

    def __hash__(self) -> int:
        return hash((self.expr, self.zone.key, self._matcher.spec))

    def __repr__(self) -> str:
        return f"Cron({self.expr!r}, {self.zone.key!r}, name={self.name!r})"


# --- interval -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval(Walked):
    """Fires at ``start + k * every`` (k >= 0) in real UTC time, unaffected by DST."""

    every: timedelta
    start: datetime | None
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            sign = "-" if self.every < timedelta(0) else ""
            raise ScheduleError("every", f"must be positive, got {sign}{_format(abs(self.every))}")
        if self.start is not None:
            object.__setattr__(self, "start", _aware(self.start, "start"))

    def next_after(self, after: datetime) -> datetime | None:
        if self.start is None:
            raise ScheduleError("start", "interval has no anchor yet; call anchored(first_seen)")
        after = _aware(after, "after")
        if after < self.start:
            fire = self.start
        else:
            try:
                fire = self.start + ((after - self.start) // self.every + 1) * self.every
            except OverflowError:  # past year 9999: no more fires, as for cron and calendar
                return None
        if fire.year == _LAST_YEAR and not _shown_in(fire, self.zone):
            return None
        return fire

    def anchored(self, first_seen: datetime) -> Interval:
        if self.start is not None:
            return self
        return Interval(self.every, _aware(first_seen, "first_seen"), self.zone)

    def describe(self) -> str:
        text = f"every {_format(self.every)}"
        return text if self.start is None else f"{text} from {self.start.isoformat()}"


# --- calendar -------------------------------------------------------------------------------

_UNITS = ("days", "weeks", "months", "years")


@dataclass(frozen=True, slots=True)
class Calendar(Walked):
    """Every ``every`` days/weeks/months/years from local date ``start``, at local ``at``.

    Fires follow the fixed-time rule; a month or year step onto a day the month lacks (31 Jan
    + 1 month, 29 Feb + 1 year) skips that occurrence: occurrence k is always ``start + k``
    steps, never the previous occurrence plus one step.
    """

    every: int
    unit: str
    at: time
    start: date
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ScheduleError(
                "every", f"must be a whole number of at least 1, got {self.every!r}"
            )
        if self.unit not in _UNITS:
            raise ScheduleError("unit", f"unknown unit {self.unit!r} (use {', '.join(_UNITS)})")
        if self.at.tzinfo is not None:
            raise ScheduleError("at", "a local time of day without a zone (the entry has one)")
        if isinstance(self.start, datetime):
            raise ScheduleError("start", "a date, not a datetime")

    def _occurrence(self, k: int) -> date | None:
        """Occurrence ``k``'s local date; None if that month lacks the start's day."""
        if self.unit in ("days", "weeks"):
            return self.start + timedelta(days=k * self.every * (7 if self.unit == "weeks" else 1))
        months = k * self.every * (12 if self.unit == "years" else 1) + self.start.month - 1
        try:
            return self.start.replace(year=self.start.year + months // 12, month=months % 12 + 1)
        except ValueError:
            return None

    def _first_k(self, local: date) -> int:
        if self.unit in ("days", "weeks"):
            step = self.every * (7 if self.unit == "weeks" else 1)
            return max(0, (local - self.start).days // step - 1)
        step = self.every * (12 if self.unit == "years" else 1)
        months = (local.year - self.start.year) * 12 + local.month - self.start.month
        return max(0, months // step - 1)

    def _walls(self, local: date) -> Iterator[datetime]:
        """The occurrences' local wall times, from a little before ``local`` on."""
        first = self._first_k(local)
        # A start on the 29th-31st skips at most a few months in a row (or 7 leap years).
        for k in range(first, first + 64):
            try:
                day = self._occurrence(k)
            except OverflowError:  # past year 9999: no more occurrences
                return
            if day is not None:
                yield datetime.combine(day, self.at)

    def next_after(self, after: datetime) -> datetime | None:
        from beat.time.cron_dst import resolve_fixed

        after = _aware(after, "after")
        try:
            local = after.astimezone(self.zone).date()
        except OverflowError:  # ``after`` is past year 9999 on this zone's clock
            return None
        for wall in self._walls(local):
            try:
                fire = resolve_fixed(wall, self.zone)
            except OverflowError:  # its instant is past datetime's range
                return None
            if fire > after:
                return fire
        return None

    def first_local_match(self, wall: datetime) -> datetime | None:
        """The first occurrence's local wall time at or after naive ``wall`` (no DST rules)."""
        return next((w for w in self._walls(wall.date()) if w >= wall), None)

    def describe(self) -> str:
        unit = self.unit if self.every != 1 else self.unit[:-1]
        count = f"{self.every} " if self.every != 1 else ""
        at = self.at.isoformat(timespec="seconds" if self.at.second else "minutes")
        return f"every {count}{unit} at {at} from {self.start.isoformat()}"


# --- one-off --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Once(Walked):
    """Fires once, at ``at``."""

    at: datetime
    zone: ZoneInfo
    # The local wall time it was written as (from_local), kept for DST notes.
    local: datetime | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _aware(self.at, "at"))

    @classmethod
    def from_local(cls, local: datetime, zone: ZoneInfo) -> Once:
        """A one-off written as a local wall time in ``zone`` (fixed-time rule for DST)."""
        if local.tzinfo is not None:
            raise ScheduleError("at", f"expected a local time without offset, got {local}")
        from beat.time.cron_dst import resolve_fixed

        return cls(resolve_fixed(local, zone), zone, local=local)

    def next_after(self, after: datetime) -> datetime | None:
        return self.at if self.at > _aware(after, "after") else None

    def first_local_match(self, wall: datetime) -> datetime | None:
        """The local wall time it was written as, if at or after naive ``wall``."""
        return self.local if self.local is not None and self.local >= wall else None

    def describe(self) -> str:
        return f"once at {self.at.astimezone(self.zone).isoformat()}"


def _format(every: timedelta) -> str:
    # Imported here: taskqueue.durations loads decimal (~2 ms), which `beat next --cron` never
    # needs.
    from taskqueue.durations import format_duration

    return format_duration(every)
