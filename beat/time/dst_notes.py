"""The human notes ``beat next`` prints next to a fire on a DST edge: one rule for every kind.

- A fixed-time fire (fixed cron, calendar, local one-off) at the instant of a forward change,
  meant for a local time the change skipped: ``02:30 does not exist on 2026-03-08; runs at
  03:00 EDT``. The skipped time is looked up in the gap (which may cross midnight, or skip a
  whole day as Pacific/Apia on 2011-12-30), never guessed from the fire's own date.
- A wildcard cron's first fire after a forward change that skipped some of its minutes:
  ``02:00-02:59 skipped on 2026-03-08``.
- A fire in a repeated period: ``01:30 occurs twice on 2026-11-01; ...``.

Times keep their seconds when they have any (``at: "02:30:15"``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from beat.time.cron_dst import FOLD, classify, last_change
from beat.time.schedules import Calendar, Cron, Once

__all__ = ["dst_note"]

_TICK = timedelta(microseconds=1)


def _clock(wall: datetime) -> str:
    return f"{wall:%H:%M:%S}" if wall.second or wall.microsecond else f"{wall:%H:%M}"


def _abbrev(instant: datetime) -> str:
    return instant.tzname() or instant.strftime("%z")


def _naive(local: datetime) -> datetime:
    return local.replace(tzinfo=None, fold=0)


def _fold_note(wall: datetime, local: datetime, zone: ZoneInfo, both: bool) -> str | None:
    try:
        kind, _, _ = classify(wall, zone)
    except OverflowError:  # the last hours of year 9999: no change is known there
        return None
    if kind != FOLD:
        return None
    which = "second" if local.fold else "first"
    head = f"{_clock(wall)} occurs twice on {wall:%Y-%m-%d}"
    if both:
        return f"{head}; runs on both passes, this is the {which} pass ({_abbrev(local)})"
    return f"{head}; runs on the {which} pass ({_abbrev(local)})"


def _skipped(start: datetime, end: datetime) -> str:
    """The skipped local times ``start`` (included) to ``end`` (excluded), shown inclusive."""
    last = end - timedelta(minutes=1) if end.second == 0 else end - timedelta(seconds=1)
    if last.date() == start.date():
        return f"{_clock(start)}-{_clock(last)} skipped on {start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d} {_clock(start)} to {last:%Y-%m-%d} {_clock(last)} skipped"


def _gap_note(
    schedule: Cron | Calendar | Once, fire: datetime, local: datetime, wildcard: bool
) -> str | None:
    """The note for a fire that follows a forward change whose gap held one of its times."""
    found = last_change(schedule.zone, fire)
    if found is None or found[1] <= timedelta(0):
        return None
    change, jump = found
    if not wildcard and fire != change:
        return None  # the fixed-time rule runs a skipped time at the instant of the change
    gap_end = _naive(change.astimezone(schedule.zone))  # the first local time after the gap
    gap_start = gap_end - jump
    intended = schedule.first_local_match(gap_start)
    if intended is None or intended >= gap_end:
        return None  # the gap held none of its times
    if not wildcard:
        return (
            f"{_clock(intended)} does not exist on {intended:%Y-%m-%d}; "
            f"runs at {_clock(_naive(local))} {_abbrev(local)}"
        )
    # Wildcard: the skipped minutes never run; say so on the first fire after them.
    if schedule.next_after(change - _TICK) != fire:
        return None
    return _skipped(gap_start, gap_end)


def dst_note(schedule: object, fire: datetime) -> str | None:
    """A human note when ``fire`` sits on a DST edge, for ``beat next``; None otherwise."""
    schedule = getattr(schedule, "inner", schedule)  # start/end bounds (beat/time/bounds.py)
    if not isinstance(schedule, Cron | Calendar | Once):
        return None  # intervals run on real time: no edge to explain
    if isinstance(schedule, Once) and schedule.local is None:
        return None  # written as an instant, not a local time
    fire = fire.astimezone(UTC)
    try:
        local = fire.astimezone(schedule.zone)
    except OverflowError:
        return None
    wildcard = isinstance(schedule, Cron) and schedule.is_wildcard
    note = _gap_note(schedule, fire, local, wildcard)
    if note is not None:
        return note
    return _fold_note(_naive(local), local, schedule.zone, both=wildcard)
