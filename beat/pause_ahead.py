"""A paused entry's fires already enqueued ahead of their instant (lookahead) are revoked by
the leader when it first sees the pause (:meth:`beat.service_tick.TickLoop._follow_pauses`), so
pausing stops them too; a fire whose instant has passed may be running and is left alone."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from itertools import islice, takewhile

from beat.entries import Schedule
from beat.ops.revoke import revoke
from beat.state_rows import EntryState
from taskqueue.broker import Revocations
from taskqueue.errors import BrokerError
from taskqueue.message import fire_id

log = logging.getLogger(__name__)

# Fires revoked per pause at most: the lookahead holds a handful unless an entry fires more
# often than every few milliseconds.
MAX_AHEAD = 1_000


def enqueued_ahead(
    name: str, schedule: Schedule, last_fire: datetime | None, now: datetime
) -> list[str]:
    """The ids of the entry's fires with ``now < instant <= last_fire``: disposed of (sent)
    already, with an instant still to come."""
    if last_fire is None or last_fire <= now:
        return []
    fires = takewhile(lambda when: when <= last_fire, schedule.iter_after(now))
    return [fire_id(name, when) for when in islice(fires, MAX_AHEAD)]


def revoke_ahead(
    broker: Revocations,
    paused: Iterable[str],
    schedule: Callable[[str], Schedule],
    states: Mapping[str, EntryState],
    now: datetime,
) -> None:
    """Revoke the fires of the newly ``paused`` entries enqueued ahead of their instant; one
    the broker cannot revoke runs, and is logged."""
    for name in sorted(paused):
        state = states.get(name)
        if state is None:
            continue
        for task_id in enqueued_ahead(name, schedule(name), state.last_fire, now):
            ids = {"entry": name, "task_id": task_id}
            try:
                revoke(broker, task_id)
            except BrokerError as e:
                log.warning(
                    "entry %s paused: cannot revoke %s (it will run): %s",
                    name,
                    task_id,
                    e,
                    extra=ids,
                )
                continue
            log.info(
                "entry %s paused: revoked %s, enqueued ahead of its instant",
                name,
                task_id,
                extra=ids,
            )
