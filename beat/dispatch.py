"""Turn planned fires into messages and hand them to the broker, then record them.

Order matters for exactly-once: the broker push comes first and the state write second. A crash
between the two re-plans the same fires on restart; their deterministic ids make the broker
refuse the copies, so nothing is lost and nothing is repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beat.entries import Entry
from beat.planner import Fire
from beat.state import StateStore
from taskqueue.broker import Broker
from taskqueue.message import DEFAULT_PRIORITY, Headers, Message, RetryPolicy

log = logging.getLogger(__name__)

# Messages per enqueue_many call: large enough to amortise round trips, small enough that one
# call never holds the broker for long.
BATCH_SIZE = 5_000


def retry_policy(entry: Entry) -> RetryPolicy:
    o = entry.options
    default = RetryPolicy()
    return RetryPolicy(
        max_retries=o.max_retries if o.max_retries is not None else default.max_retries,
        backoff=o.retry_backoff if o.retry_backoff is not None else default.backoff,
        backoff_max=o.retry_backoff_max if o.retry_backoff_max is not None else default.backoff_max,
    )


def build_message(entry: Entry, fire: Fire, enqueued_at: datetime) -> Message:
    """The message for one fire of ``entry``; ``expires`` counts from the scheduled instant."""
    o = entry.options
    return Message(
        id=fire.id,
        task=entry.task,
        queue=entry.queue,
        args=tuple(entry.args),
        kwargs=dict(entry.kwargs),
        priority=o.priority if o.priority is not None else DEFAULT_PRIORITY,
        expires=fire.scheduled_for + o.expires if o.expires is not None else None,
        soft_time_limit=o.soft_time_limit,
        time_limit=o.time_limit,
        retry=retry_policy(entry),
        headers=Headers(
            enqueued_at=enqueued_at, entry=entry.name, scheduled_for=fire.scheduled_for
        ),
    )


@dataclass(frozen=True, slots=True)
class DispatchResult:
    sent: int
    duplicates: int


def dispatch(
    broker: Broker,
    store: StateStore,
    entries: Mapping[str, Entry],
    fires: Sequence[Fire],
    now: datetime,
) -> DispatchResult:
    """Enqueue ``fires`` (in batches) and record each entry's last scheduled fire.

    Raises the broker's error if a batch cannot be pushed; fires of earlier batches stay
    recorded, so a retry only repeats what had not been confirmed.
    """
    sent = duplicates = 0
    for start in range(0, len(fires), BATCH_SIZE):
        batch = fires[start : start + BATCH_SIZE]
        messages = [build_message(entries[f.entry], f, now) for f in batch]
        pushed = broker.enqueue_many(messages)
        last: dict[str, datetime] = {}
        for fire, ok in zip(batch, pushed, strict=True):
            last[fire.entry] = max(last.get(fire.entry, fire.scheduled_for), fire.scheduled_for)
            lateness_ms = (now - fire.scheduled_for) / timedelta(milliseconds=1)
            if ok:
                sent += 1
                log.info(
                    "fire %s id=%s scheduled_for=%s lateness_ms=%.1f",
                    fire.entry,
                    fire.id,
                    fire.scheduled_for.isoformat(),
                    lateness_ms,
                    extra={"entry": fire.entry, "fire_id": fire.id, "lateness_ms": lateness_ms},
                )
            else:
                duplicates += 1
                log.info(
                    "fire %s id=%s already enqueued (refused as duplicate)",
                    fire.entry,
                    fire.id,
                    extra={"entry": fire.entry, "fire_id": fire.id},
                )
        store.record_fires(list(last.items()), now)
    return DispatchResult(sent=sent, duplicates=duplicates)
