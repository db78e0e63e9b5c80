"""An entry as the operator sees it: its row in ``beat list`` (and the dashboard's entries
page), its next fires with DST notes, and every fire of all entries in a window.

Pure: the configuration, the stored run state (states and pauses) and ``now`` in, data out.
The fires follow the daemon's own rule (:func:`beat.pending.upcoming` from
:func:`beat.pending.planned_state`, none unless :func:`beat.pending.sends`: a paused or disabled
entry has none), so ``beat list``, ``beat next`` and the dashboard give one answer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from beat.pending import planned_state, sends, upcoming
from beat.time.bounds import finished
from beat.time.cron_dst import changes_between
from beat.time.dst_notes import dst_note
from beat.time.jitter import send_at
from taskqueue.message import fire_id

if TYPE_CHECKING:
    from beat.entries import Entry
    from beat.state_rows import EntryState, Pause


def local_iso(value: datetime | None, entry: Entry) -> str | None:
    """An instant in the entry's zone, ISO-8601 with its offset (None stays None)."""
    return None if value is None else value.astimezone(entry.schedule.zone).isoformat()


def entry_row(
    entry: Entry,
    stored: EntryState | None,
    now: datetime,
    pause: Pause | None = None,
    *,
    with_note: bool = False,
) -> dict[str, Any]:
    """``beat list --json``'s object for ``entry``: schedule in words, zone, queue, last fire,
    next fire (None: disabled, paused, or no more fires), whether the daemon owes it already,
    and its pause. ``with_note``: also the next fire's DST note (the dashboard's list), from
    the same planning."""
    state = planned_state(entry, stored, pause, now)
    nxt = next(upcoming(entry, state), None) if sends(entry, pause) else None
    row = {
        "name": entry.name,
        "task": entry.task,
        "schedule": entry.schedule.describe(),
        "timezone": entry.schedule.zone.key,
        "queue": entry.queue,
        "enabled": entry.enabled,
        "last_fire": local_iso(state.last_fire, entry),
        "next_fire": local_iso(nxt, entry),
        "overdue": nxt is not None and nxt < now,
        # With jitter: when the next fire is released to workers (else next_fire).
        "next_send": local_iso(
            None if nxt is None else send_at(nxt, fire_id(entry.name, nxt), entry.jitter), entry
        ),
        # Past its `end:`: it will never fire again.
        "finished": nxt is None and finished(entry.schedule, now),
        "source": entry.source,
        "paused": (
            {"since": pause.since.isoformat(), "note": pause.note}
            if pause is not None and pause.paused
            else None
        ),
    }
    if with_note:
        row["next_note"] = None if nxt is None else dst_note(entry.schedule, nxt)
    return row


def next_fires(
    entry: Entry,
    stored: EntryState | None,
    pause: Pause | None,
    now: datetime,
    *,
    limit: int,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """The entry's next fires (at most ``limit``, none after ``until``; none while it is
    paused or disabled): local time with its offset, UTC, and the DST note ``beat next``
    prints beside a fire on a DST edge."""
    if not sends(entry, pause):
        return []
    fires = upcoming(entry, planned_state(entry, stored, pause, now))
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


class _Fires:
    """One entry's fires from one state: those computed so far, and the rest to come."""

    def __init__(self, entry: Entry, state: EntryState) -> None:
        self.entry, self.state = entry, state
        self.known: list[datetime] = []
        self.rest = upcoming(entry, state)

    def until(self, end: datetime) -> Iterator[tuple[datetime, str]]:
        """The fires up to ``end``, computing only those a caller goes on to ask for."""
        i = 0
        while True:
            if i == len(self.known):
                fire = next(self.rest, None)
                if fire is None:
                    return
                self.known.append(fire)
            fire = self.known[i]
            if fire > end:
                return
            yield fire, self.entry.name
            i += 1


class FireCache:
    """Each entry's fires, computed lazily and kept while the entry and its state are
    unchanged: the timeline of 10,000 entries costs only the fires it shows, and after a
    round of fires only the entries that fired or were edited are recomputed. Not
    thread-safe: one per caller, or behind a lock."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Fires] = {}

    def fires(self, entry: Entry, state: EntryState) -> _Fires:
        cached = self._by_name.get(entry.name)
        if cached is None or cached.entry is not entry or cached.state != state:
            cached = self._by_name[entry.name] = _Fires(entry, state)
        return cached

    def forget_others(self, names: Iterable[str]) -> None:
        keep = set(names)
        for name in [n for n in self._by_name if n not in keep]:
            del self._by_name[name]


def fires_between(
    entries: Mapping[str, Entry],
    states: Mapping[str, EntryState],
    pauses: Mapping[str, Pause],
    now: datetime,
    end: datetime,
    *,
    limit: int,
    cache: FireCache | None = None,
) -> tuple[list[tuple[datetime, str]], bool]:
    """Every fire the beat will send from now to ``end`` (and any fire already owed), in time
    order: at most ``limit`` of them, and whether more were left out."""
    cache = cache or FireCache()
    streams = [
        cache.fires(entry, planned_state(entry, states.get(name), pause, now)).until(end)
        for name, entry in entries.items()
        if sends(entry, pause := pauses.get(name))
    ]
    cache.forget_others(entries)
    taken = list(itertools.islice(heapq.merge(*streams), limit + 1))
    return taken[:limit], len(taken) > limit
