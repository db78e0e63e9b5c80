"""An entry as the operator sees it: its row in ``beat list`` (and the dashboard's entries
page), its next fires with DST notes, and every fire of all entries in a window.

Pure: the configuration, the stored run state and ``now`` in, data out. The next fire follows
the daemon's own rule (:func:`beat.planner.upcoming` from :func:`beat.planner.first_state`),
so ``beat list``, ``beat next`` and the dashboard give one answer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from beat.planner import first_state, upcoming
from beat.time.cron_dst import changes_between
from beat.time.dst_notes import dst_note

if TYPE_CHECKING:
    from beat.entries import Entry
    from beat.state import EntryState


def local_iso(value: datetime | None, entry: Entry) -> str | None:
    """An instant in the entry's zone, ISO-8601 with its offset (None stays None)."""
    return None if value is None else value.astimezone(entry.schedule.zone).isoformat()


def entry_row(entry: Entry, stored: EntryState | None, now: datetime) -> dict[str, Any]:
    """``beat list --json``'s object for ``entry``: schedule in words, zone, queue, last fire,
    next fire (None: disabled, or no more fires) and whether the daemon owes it already."""
    # What the daemon would hold for it now: the stored state, or a new/edited one.
    state = first_state(entry, now, stored)
    nxt = next(upcoming(entry, state), None) if entry.enabled else None
    return {
        "name": entry.name,
        "task": entry.task,
        "schedule": entry.schedule.describe(),
        "timezone": entry.schedule.zone.key,
        "queue": entry.queue,
        "enabled": entry.enabled,
        "last_fire": local_iso(state.last_fire, entry),
        "next_fire": local_iso(nxt, entry),
        "overdue": nxt is not None and nxt < now,
        "source": entry.source,
    }


def next_fires(
    entry: Entry, stored: EntryState | None, now: datetime, *, limit: int, until: datetime | None
) -> list[dict[str, Any]]:
    """The entry's next fires (at most ``limit``, none after ``until``): local time with its
    offset, UTC, and the DST note ``beat next`` prints beside a fire on a DST edge."""
    if not entry.enabled:
        return []
    fires = upcoming(entry, first_state(entry, now, stored))
    out: list[dict[str, Any]] = []
    for fire in itertools.islice(fires, limit):
        if until is not None and fire > until:
            break
        out.append(
            {
                "at": local_iso(fire, entry),
                "utc": fire.astimezone(UTC).isoformat(),
                "note": dst_note(entry.schedule, fire),
            }
        )
    return out


def dst_changes(entry: Entry, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The changes of the entry's zone's offset in [start, end): when, and the jump in
    minutes (positive: clocks go forward), for marking them on a timeline."""
    zone = entry.schedule.zone
    return [
        {
            "at": change.astimezone(zone).isoformat(),
            "utc": change.astimezone(UTC).isoformat(),
            "jump_minutes": int(jump / timedelta(minutes=1)),
        }
        for change, jump in changes_between(zone, start, end)
    ]


def fires_between(
    entries: Mapping[str, Entry],
    states: Mapping[str, EntryState],
    now: datetime,
    end: datetime,
    *,
    limit: int,
) -> tuple[list[tuple[datetime, str]], bool]:
    """Every fire of every enabled entry from now to ``end``, in time order: at most ``limit``
    of them, and whether more were left out."""

    def fires_of(entry: Entry) -> Iterator[tuple[datetime, str]]:
        for fire in upcoming(entry, first_state(entry, now, states.get(entry.name))):
            if fire > end:
                return
            yield fire, entry.name

    merged = heapq.merge(*(fires_of(e) for e in entries.values() if e.enabled))
    taken = list(itertools.islice(merged, limit + 1))
    return taken[:limit], len(taken) > limit
