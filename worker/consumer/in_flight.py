"""The deliveries the pool is running, and the consumer's counts.

The table is shared by the consumer loop (which adds and settles entries) and the lease keeper
thread (which renews them and marks the ones whose lease was lost), hence the lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskqueue.broker import Delivery
from taskqueue.message import Message
from worker.consumer.log_fields import task_fields

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class InFlight:
    """One delivery being run by the pool."""

    delivery: Delivery
    message: Message
    task: Any
    started_at: datetime
    lost: bool = False
    # Revoked with terminate (the lease keeper learnt it from the broker); the loop, which
    # owns the pool, stops it.
    terminate: bool = False


@dataclass(slots=True)
class ConsumerStats:
    """Counts since start, for logs and tests."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    expired: int = 0
    released: int = 0
    rate_limited: int = 0
    redelivered: int = 0
    lost: int = 0
    revoked: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    def count(self, counter: str) -> None:
        """Add one to the counter named ``counter`` (an attribute of this class)."""
        setattr(self, counter, getattr(self, counter) + 1)

    def count_state(self, state: str) -> None:
        self.by_state[state] = self.by_state.get(state, 0) + 1


class InFlightTable:
    """Job id -> :class:`InFlight`, safe to use from the loop and the lease keeper."""

    def __init__(self, stats: ConsumerStats) -> None:
        self._entries: dict[str, InFlight] = {}
        self._lock = threading.Lock()
        self._stats = stats

    def add(self, job_id: str, entry: InFlight) -> None:
        with self._lock:
            self._entries[job_id] = entry

    def pop(self, job_id: str) -> InFlight | None:
        with self._lock:
            return self._entries.pop(job_id, None)

    def get(self, job_id: str) -> InFlight | None:
        with self._lock:
            return self._entries.get(job_id)

    def snapshot(self) -> list[tuple[str, InFlight]]:
        with self._lock:
            return list(self._entries.items())

    def take_all(self) -> list[tuple[str, InFlight]]:
        """Every entry, leaving the table empty."""
        with self._lock:
            entries = list(self._entries.items())
            self._entries.clear()
        return entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def mark_terminate(self, task_ids: set[str]) -> None:
        """Mark the entries running the revoked ``task_ids`` for the loop to terminate."""
        with self._lock:
            for entry in self._entries.values():
                if entry.message.id in task_ids:
                    entry.terminate = True

    def take_terminations(self) -> list[str]:
        """Job ids marked for termination, each handed out once."""
        with self._lock:
            jobs = [j for j, e in self._entries.items() if e.terminate]
            for job_id in jobs:
                self._entries[job_id].terminate = False
        return jobs

    def lease_renewed(self, job_id: str, renewed: Delivery | None) -> None:
        """Record a renewal: the renewed delivery, or (None) the lease was lost."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                return
            if renewed is not None:
                entry.delivery = renewed
                return
            entry.lost = True
            self._stats.lost += 1
        logger.warning(
            "task %s[%s]: lease lost; the message will be redelivered elsewhere",
            entry.message.task,
            entry.message.id,
            extra=task_fields(entry.message, entry.delivery.queue, "LEASE_LOST"),
        )
