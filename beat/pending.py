"""An entry's pending fires from its run state: the rules the planner (:mod:`beat.planner`),
the roster (:mod:`beat.roster`) and whatever shows the fires a beat will send (``beat next``,
``beat list``, the dashboard) share, written once.

Apart from the planner's records (fires, skips, plans) and the roster's table, whose
dataclasses ``beat next`` does not need (issue 17: each costs start-up time to define).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from beat.entries import Entry, EntrySpec
from beat.state_rows import EntryState, Pause
from beat.time.bounds import unbounded
from beat.time.schedules import Interval


def first_state(entry: Entry, now: datetime, previous: EntryState | None) -> EntryState:
    """The state of ``entry`` being (re)indexed at ``now``: :func:`first_state_of`."""
    return first_state_of(entry.name, entry.spec, now, previous)


def first_state_of(
    name: str, spec: EntrySpec, now: datetime, previous: EntryState | None
) -> EntryState:
    """The state of the entry ``name`` of ``spec`` being (re)indexed at ``now``.

    New: first seen now, never fired. Unchanged (same content hash): ``previous`` as is, so a
    restart keeps the interval phase and the last fire. Edited: ``first_seen`` and
    ``last_fire`` are kept (``last_fire`` stays the truth about what was sent) and
    ``edited_at = now`` becomes a boundary: the edited entry's first fire is its next scheduled
    instant after the edit, never immediate, and fires the old definition missed are not
    replayed under the new one.
    """
    if now.tzinfo is not UTC:  # every instant beat computes is UTC already
        # Imported here: `beat next` need not define the message's dataclasses (issue 17).
        from taskqueue.message import require_aware

        now = require_aware(now, "now")
    digest = spec.content_hash()
    if previous is None:
        return EntryState(name=name, last_fire=None, first_seen=now, content_hash=digest)
    if previous.content_hash == digest:
        return previous
    return replace(previous, content_hash=digest, edited_at=now)


def resumed(state: EntryState, at: datetime) -> EntryState:
    """``state`` of an entry that runs again from ``at`` on after a stop that is not downtime
    (re-enabled, or ``beat resume``): ``at`` becomes a boundary, so nothing in the stopped
    period is "missed" and replayed. Idempotent: an earlier boundary is never moved back."""
    if state.edited_at is not None and state.edited_at >= at:
        return state
    return replace(state, edited_at=at)


def boundary(state: EntryState) -> datetime:
    """Fires are pending strictly after this instant."""
    after = state.first_seen if state.last_fire is None else state.last_fire
    edited = state.edited_at
    if edited is not None and edited > after:
        return edited
    return after


def next_pending(entry: Entry | EntrySpec, state: EntryState) -> datetime | None:
    """The next fire to index: the first scheduled instant after the state's boundary (the
    last scheduled fire, or first seen / edited), never computed from "now"."""
    schedule = entry.schedule
    after = boundary(state)
    if isinstance(schedule, Interval):
        start = state.first_seen if schedule.start is None else schedule.start
        return interval_first_after(start, schedule.every, after)
    return schedule.anchored(state.first_seen).next_after(after)


def upcoming(entry: Entry, state: EntryState, after: datetime | None = None) -> Iterator[datetime]:
    """The fires the daemon will send for ``entry`` from ``state``, in order: the same rule as
    :func:`next_pending` (its first item), so ``beat next`` and ``beat list`` give one answer.

    ``after``: the schedule's fires strictly after it instead (the state only gives an
    interval its phase; its anchor, first seen, is never itself a fire).
    """
    schedule = entry.schedule
    if after is None:
        floor = boundary(state)
    elif isinstance(base := unbounded(schedule), Interval) and base.start is None:
        floor = max(after, state.first_seen)
    else:
        floor = after
    return schedule.anchored(state.first_seen).iter_after(floor)


def sends(entry: Entry | EntrySpec, pause: Pause | None) -> bool:
    """Whether the beat sends ``entry``'s fires: enabled and not paused (``beat pause``,
    ``pause_on_failure``); a paused entry has none until it is resumed."""
    return entry.enabled and (pause is None or not pause.paused)


def planned_state(
    entry: Entry, stored: EntryState | None, pause: Pause | None, now: datetime
) -> EntryState:
    """The state a beat holds for ``entry`` at ``now`` given the ``stored`` one: a new or
    edited entry's (:func:`beat.planner.first_state`), and after a resume, boundary at the
    resume instant (:func:`resumed`, as :meth:`Roster.set_pauses` applies it).
    Its fires are :func:`beat.planner.upcoming`'s when :func:`sends`, else none."""
    state = first_state(entry, now, stored)
    if pause is not None and not pause.paused:
        state = resumed(state, pause.since)
    return state


def interval_first_after(start: datetime, every: timedelta, after: datetime) -> datetime:
    if after < start:
        return start
    return start + ((after - start) // every + 1) * every
