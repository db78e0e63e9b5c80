"""``start:`` and ``end:`` on any schedule kind: no fire before ``start`` or after ``end``.

A :class:`Bounded` wraps the entry's own schedule only when a bound is given, so entries
without bounds keep their schedule object (and the planner's interval arithmetic) unchanged.
An interval's ``start`` stays its phase anchor (its first fire), which already bounds it below:
for ``every`` only ``end`` is wrapped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from beat.errors import ScheduleError
from beat.time.schedules import Walked

if TYPE_CHECKING:
    from beat.entries import Schedule

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Bounded(Walked):
    """``inner``'s fires within ``[start, end]`` (either bound may be None)."""

    inner: Schedule
    start: datetime | None
    end: datetime | None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                if value.tzinfo is None or value.utcoffset() is None:
                    raise ScheduleError(name, f"naive datetime {value.isoformat()}")
                object.__setattr__(self, name, value.astimezone(UTC))
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ScheduleError(
                "end",
                f"{self.end.isoformat()} is before start {self.start.isoformat()}",
            )

    @property
    def zone(self) -> ZoneInfo:
        return self.inner.zone

    def next_after(self, after: datetime) -> datetime | None:
        start = self.start
        if start is not None and after < start:
            after = start - _ONE_US  # a fire exactly at start is allowed
        fire = self.inner.next_after(after)
        if fire is None or (self.end is not None and fire > self.end):
            return None
        return fire

    def anchored(self, first_seen: datetime) -> Bounded:
        inner = self.inner.anchored(first_seen)
        return self if inner is self.inner else Bounded(inner, self.start, self.end)

    def describe(self) -> str:
        text = self.inner.describe()
        if self.start is not None:
            text += f" starting {self.start.astimezone(self.zone).isoformat()}"
        if self.end is not None:
            text += f" until {self.end.astimezone(self.zone).isoformat()}"
        return text


def unbounded(schedule: Schedule) -> Schedule:
    """The schedule a :class:`Bounded` wraps (any other schedule as is): for the rules that
    depend on the kind (DST notes, an interval's anchoring, serialising)."""
    return schedule.inner if isinstance(schedule, Bounded) else schedule


def end_of(schedule: Schedule) -> datetime | None:
    """The schedule's ``end`` bound, if any."""
    return schedule.end if isinstance(schedule, Bounded) else None


def finished(schedule: Schedule, now: datetime) -> bool:
    """Whether an entry with ``end`` is past it: ``beat list`` shows it as finished."""
    end = end_of(schedule)
    return end is not None and now > end
