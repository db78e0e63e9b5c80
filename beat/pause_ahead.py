"""A paused entry's fires already enqueued ahead of their instant (lookahead) are revoked by
the leader when it first sees the pause (:meth:`beat.service.BeatService._follow_pauses`), so
pausing stops them too; a fire whose instant has passed may be running and is left alone."""

from __future__ import annotations

from datetime import datetime

from beat.entries import Schedule
from taskqueue.message import fire_id

# Fires revoked per pause at most: the lookahead holds a handful unless an entry fires more
# often than every few milliseconds.
MAX_AHEAD = 1_000


def enqueued_ahead(
    name: str, schedule: Schedule, last_fire: datetime | None, now: datetime
) -> list[str]:
    """The ids of the entry's fires with ``now < instant <= last_fire``: disposed of (sent)
    already, with an instant still to come."""
    ids: list[str] = []
    if last_fire is None or last_fire <= now:
        return ids
    when = schedule.next_after(now)
    while when is not None and when <= last_fire and len(ids) < MAX_AHEAD:
        ids.append(fire_id(name, when))
        when = schedule.next_after(when)
    return ids
