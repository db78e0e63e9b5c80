"""Applying settlements: one ``settle_many`` call per batch, and the counts once applied.

A claim that is no longer ours (its lease was lost) is neither settled nor counted; a result
that cannot be stored as JSON is stored as its ``repr`` rather than losing the outcome itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from taskqueue.broker import DEFAULT_RESULT_TTL, Broker, Delivery, Settlement, TaskState, TaskStatus
from taskqueue.errors import BrokerUnavailable
from taskqueue.message import Message
from worker.consumer.callbacks import send_callbacks
from worker.consumer.in_flight import ConsumerStats
from worker.consumer.outcomes import Pending, status_of

if TYPE_CHECKING:
    from daemonkit.metrics import WorkerMetrics

logger = logging.getLogger(__name__)


class Settler:
    """Records outcomes with the broker and counts them in ``stats`` (and ``metrics``)."""

    def __init__(
        self,
        broker: Broker,
        stats: ConsumerStats,
        metrics: WorkerMetrics | None,
        result_expires: timedelta = DEFAULT_RESULT_TTL,
    ) -> None:
        self._broker = broker
        # How long final statuses are kept (worker.result_expires; a call's own wins).
        self._result_ttl = result_expires
        self._stats = stats
        self._metrics = metrics

    def settle(self, pending: Sequence[Pending]) -> None:
        """Apply ``pending`` in one broker call; BrokerUnavailable if it could not be."""
        self._apply(
            pending, lambda items: self._broker.settle_many(items, result_ttl=self._result_ttl)
        )

    def settle_and_claim(
        self,
        pending: Sequence[Pending],
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        max_count: int,
    ) -> list[Delivery]:
        """:meth:`settle`, and claim up to ``max_count`` more in the same broker call."""
        claimed: list[Delivery] = []

        def call(items: Sequence[Settlement]) -> list[bool]:
            settled, claimed[:] = self._broker.settle_and_claim(
                items, queues, consumer, lease, max_count, result_ttl=self._result_ttl
            )
            return settled

        self._apply(pending, call)
        return claimed

    def _apply(
        self, pending: Sequence[Pending], call: Callable[[Sequence[Settlement]], list[bool]]
    ) -> None:
        """Settle ``pending`` with ``call`` (the broker's) and count what was applied."""
        items = [_with_deliveries(p.settlement) for p in pending]
        # Before settling: a worker dying in between re-runs the parent, never loses these.
        send_callbacks(self._broker, pending)
        try:
            try:
                settled = call(items)
            except (TypeError, ValueError):
                # A result that cannot be stored (not JSON) must not lose the outcome itself.
                items = [_storable(item) for item in items]
                settled = call(items)
        except BrokerUnavailable as e:
            # Not settled: the loop keeps them and sends them again (settling is idempotent).
            # A warning naming them, not a traceback: an outage is not a bug.
            logger.warning(
                "could not record the outcome of %s yet: %s",
                ", ".join(f"{i.delivery.message_id}" for i in items),
                e,
            )
            raise
        for p, item, ok in zip(pending, items, settled, strict=True):
            if not ok:
                self._stats.lost += 1
                logger.warning(
                    "message %s on %s: claim no longer ours (lease lost); outcome not recorded",
                    item.delivery.message_id,
                    item.delivery.queue,
                )
                continue
            for counter in p.counters:
                self._stats.count(counter)
            if item.status is not None:
                self.count_state(item.status)

    def count_state(self, status: TaskStatus) -> None:
        self._stats.count_state(status.state.value)
        if self._metrics is not None and status.state not in (
            TaskState.QUEUED,
            TaskState.STARTED,
        ):
            runtime_s = (
                (status.finished_at - status.started_at).total_seconds()
                if status.finished_at and status.started_at
                else None
            )
            self._metrics.task_finished(status.task, status.state.value, runtime_s)

    def set_status(self, message: Message, state: TaskState, *, attempts: int) -> None:
        """Record a state outside a settlement (a message released at shutdown)."""
        status = status_of(message, state, attempts)
        self.count_state(status)
        self._broker.set_status(status)


def _with_deliveries(item: Settlement) -> Settlement:
    """``item`` with its status carrying the delivery count of its claim."""
    status = item.status
    if status is None or status.deliveries:
        return item
    return replace(item, status=replace(status, deliveries=item.delivery.deliveries))


def _storable(item: Settlement) -> Settlement:
    """``item`` with its status result replaced by its repr if it is not JSON."""
    status = item.status
    if status is None:
        return item
    try:
        json.dumps(status.result, allow_nan=False)
    except (TypeError, ValueError):
        return replace(item, status=replace(status, result=repr(status.result)))
    return item
