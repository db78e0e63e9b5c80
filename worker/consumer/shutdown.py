"""Shutdown: whatever the pool did not finish goes back to ready, never dropped."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from taskqueue.broker import Broker, TaskState
from worker.consumer.in_flight import ConsumerStats, InFlight
from worker.consumer.log_fields import task_fields
from worker.consumer.settle import Settler

logger = logging.getLogger(__name__)


def release_unfinished(
    broker: Broker,
    settler: Settler,
    stats: ConsumerStats,
    leftover: Sequence[tuple[str, InFlight]],
    unfinished_ids: Collection[str],
) -> None:
    """Release each delivery of ``leftover`` still ours back to its queue, state QUEUED.

    ``unfinished_ids`` are the jobs the pool says it stopped; any other leftover finished
    while stopping, with an outcome that never arrived ("outcome unknown").
    """
    for job_id, entry in leftover:
        if entry.lost:
            continue
        try:
            if broker.release(entry.delivery):
                stats.released += 1
                message = entry.message
                settler.set_status(message, TaskState.QUEUED, attempts=message.attempt)
                logger.warning(
                    "task %s[%s]: released back to %s (worker stopping%s)",
                    message.task,
                    message.id,
                    entry.delivery.queue,
                    "" if job_id in unfinished_ids else ", outcome unknown",
                    extra=task_fields(message, entry.delivery.queue, TaskState.QUEUED),
                )
        except Exception:
            logger.exception("could not release %s; it returns after its lease", job_id)
