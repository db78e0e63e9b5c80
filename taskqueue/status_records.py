"""The records the read-only paths hand out: a task's status, a queue's figures and a lease
holder (``beat status``, ``beat queues``, the leader line of ``beat list``).

Apart from :mod:`taskqueue.records` (which re-exports them) so that the read-only CLI commands
define three records, not fifteen, and import neither the message codec nor the broker
protocols: each frozen, slotted dataclass costs a fraction of a millisecond to define, and
``beat status`` must answer in under 150 ms (issues 12 and 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from taskqueue.status_details import details_to_json

__all__ = ["FINAL_STATES", "LeaseHolder", "QueueStats", "TaskState", "TaskStatus"]


class TaskState(StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    RETRY = "RETRY"
    PROGRESS = "PROGRESS"  # a running task's update_state (its meta in ``result``)
    EXPIRED = "EXPIRED"
    DEAD = "DEAD"
    REVOKED = "REVOKED"  # revoked before it ran, or terminated while running


FINAL_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILURE, TaskState.EXPIRED, TaskState.DEAD, TaskState.REVOKED}
)


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    ready: int
    delayed: int
    in_flight: int  # claimed, lease still running
    dead: int
    consumers: int  # live: heartbeat not expired, not deregistered
    # Claimed but the lease ran out (the worker died): back to ready at the next
    # recover_expired by any worker. Not counted in in_flight.
    expired_lease: int = 0


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """What is known of one task id (``beat status``)."""

    id: str
    task: str
    state: TaskState
    attempts: int
    result: Any = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deliveries: int = 0  # of the current attempt (see Delivery.deliveries); 0: not known
    # The task that sent this one, the calls its code made and the callbacks it sent (the
    # first MAX_CHILDREN; more_children: how many more), and a failure's remote traceback
    # (stored as one optional object: taskqueue.status_details).
    parent_id: str | None = None
    children: tuple[str, ...] = ()
    more_children: int = 0
    traceback: str | None = None
    # A write instruction, never read back: how long to keep this status once final (the
    # call's result_expires); None: the ttl the broker is given.
    keep: timedelta | None = None

    def kept(self, default: timedelta) -> timedelta:
        return default if self.keep is None else self.keep

    def details_json(self) -> str | None:
        return details_to_json(self.parent_id, self.children, self.traceback, self.more_children)


class LeaseHolder(NamedTuple):
    """Who holds a lease (``lease_holder``): owner, fencing token, and when it runs out."""

    owner: str
    token: int
    expires_at: datetime
