"""``beat backfill``: the fires an entry would have had in a range, sent with their ordinary
fire ids through the dispatcher's message path, so the broker's enqueue-once refuses the
copies and running it twice sends nothing new.

With an overlap policy (:mod:`beat.overlap`) fires sent together would overlap each other, so
at most one is sent, and none while a fire of the entry (the newest the fire log knows, or one
of the range) is still queued, running or retrying; the others are counted as skipped.

The fires sent are written to the fire log (``sent (backfill)``): ``beat history`` shows them,
and the leader reads them every tick so that its overlap gate waits on them too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beat.dispatch import BATCH_SIZE, Dispatcher
from beat.entries import Entry, Overlap
from beat.overlap import ACTIVE, StatusReader, waiting_reason
from beat.planner import Fire, upcoming
from beat.state import EntryState, StateStore
from beat.state_log import FireRecord
from beat.state_sql import BACKFILL_SENT
from taskqueue.broker import Producer
from taskqueue.message import fire_id

# Fires one backfill may send unless --limit says more.
DEFAULT_LIMIT = 10_000

_ONE_US = timedelta(microseconds=1)


class TooManyFires(ValueError):
    """The range holds more fires than the limit."""


def fires_in_range(
    entry: Entry, state: EntryState, start: datetime, end: datetime, limit: int
) -> list[Fire]:
    """The entry's fires with ``start <= instant <= end``, in order (the schedule's own fires,
    phase from the state like the daemon's); TooManyFires past ``limit``."""
    out: list[Fire] = []
    instants: Iterator[datetime] = upcoming(entry, state, after=start - _ONE_US)
    for when in instants:
        if when > end:
            break
        if len(out) == limit:
            raise TooManyFires(
                f"more than {limit} fires from {start.isoformat()} to {end.isoformat()}"
            )
        out.append(Fire(entry.name, when, fire_id(entry.name, when)))
    return out


@dataclass(slots=True)
class Backfill:
    """What one backfill enqueued, and how many fires the broker refused as already there."""

    enqueued: int = 0
    duplicates: int = 0


def gate(
    entry: Entry, fires: Sequence[Fire], last_sent: str | None, read: StatusReader
) -> tuple[list[Fire], list[tuple[Fire, str]]]:
    """The fires to send under the entry's overlap policy, and the skipped ones with why."""
    if entry.overlap is Overlap.ALLOW or not fires:
        return list(fires), []
    ids = [f.id for f in fires] + ([last_sent] if last_sent else [])
    statuses = read(ids)
    busy = next((i for i in ids if (s := statuses.get(i)) is not None and s.state in ACTIVE), None)
    send = [] if busy is not None else [fires[0]]
    waits_on = busy or fires[0].id
    reason = waiting_reason(entry.overlap, waits_on)
    return send, [(f, reason) for f in fires[len(send) :]]


def enqueue(
    broker: Producer, store: StateStore, entry: Entry, fires: Sequence[Fire], now: datetime
) -> Backfill:
    """Send ``fires`` through the dispatcher's message path, enqueue-once, in batches, then
    write them to the fire log (``sent (backfill)``, or ``duplicate``) in one transaction, as
    the dispatcher records its fires: pushed first, so a failed log repeats nothing but the
    log; a failed push logs the batches pushed before it, then raises."""
    dispatcher = Dispatcher()
    result = Backfill()
    instants: dict[datetime, str] = {}
    lines: list[FireRecord] = []
    try:
        for start in range(0, len(fires), BATCH_SIZE):
            batch = fires[start : start + BATCH_SIZE]
            accepted = broker.enqueue_encoded(
                [dispatcher.encode(entry, f, now, instants) for f in batch]
            )
            result.enqueued += sum(accepted)
            result.duplicates += len(accepted) - sum(accepted)
            lines += [
                FireRecord(f.entry, f.scheduled_for, f.id, BACKFILL_SENT if ok else "duplicate")
                for f, ok in zip(batch, accepted, strict=True)
            ]
    finally:
        store.log_fires(lines, now)
    return result
