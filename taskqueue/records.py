"""The records the brokers hand out and take: messages encoded for the wire, deliveries,
settlements, task statuses, queue figures and lease holders.

Plain data, no behaviour beyond checking their own fields; the protocols that use them are in
:mod:`taskqueue.broker`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from taskqueue.message import MAX_MESSAGE_BYTES, MAX_PRIORITY, MIN_PRIORITY, Message, require_aware

# Defined apart for the read-only commands (see there), re-exported: callers import them here.
from taskqueue.status_records import FINAL_STATES as FINAL_STATES
from taskqueue.status_records import LeaseHolder as LeaseHolder
from taskqueue.status_records import QueueStats as QueueStats
from taskqueue.status_records import TaskState as TaskState
from taskqueue.status_records import TaskStatus as TaskStatus

# How long the broker remembers a message id for enqueue-once. Long enough to cover any window
# in which two beats (or a beat replaying after a crash) could produce the same fire; bounded so
# 100,000 entries firing every minute do not grow Redis without end.
DEFAULT_DEDUPE_TTL = timedelta(hours=24)
# How long task states and results are kept after a task reaches a final state.
DEFAULT_RESULT_TTL = timedelta(days=1)


# The error recorded with a revoked task's status.
REVOKED_ERROR = "revoked"


class RevokedWhere(StrEnum):
    """Where a revoked task was when it was revoked."""

    QUEUED = "queued"  # ready: removed
    DELAYED = "delayed"  # waiting for its eta: removed
    RUNNING = "running"  # in flight: terminated if asked, else it finishes; never runs again
    NOT_FOUND = "not found"  # finished, never sent, or not sent yet: it will not run


@dataclass(frozen=True, slots=True)
class Revocation:
    """What ``revoke`` did: the id is revoked (kept until ``expires_at``) whatever ``where``."""

    task_id: str
    where: RevokedWhere
    queue: str | None
    terminate: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A message already encoded to its wire bytes, with the fields a broker routes by.

    Beat renders a burst of fires with :class:`~taskqueue.message_template.MessageTemplate`
    straight to bytes; building and encoding 100,000 :class:`Message` objects would cost most of
    the one second the burst may take. ``task`` and ``attempt`` are carried so that a broker which
    records the QUEUED state eagerly (SQLite) need not decode the payload.
    """

    id: str
    queue: str
    priority: int
    eta: datetime | None
    payload: bytes
    task: str
    attempt: int = 0

    def __post_init__(self) -> None:
        if not self.id or not self.queue:
            raise ValueError(f"encoded message {self.id!r}: id and queue must not be empty")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(
                f"encoded message {self.id}: priority {self.priority} is out of range "
                f"{MIN_PRIORITY}-{MAX_PRIORITY}"
            )
        if self.eta is not None:
            require_aware(self.eta, f"encoded message {self.id}: eta")
        if len(self.payload) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"message {self.id}: {len(self.payload)} bytes exceeds the limit of "
                f"{MAX_MESSAGE_BYTES}"
            )

    @classmethod
    def of(cls, message: Message) -> EncodedMessage:
        """Encode ``message`` (raises ValueError if it is over the size limit)."""
        return cls(
            id=message.id,
            queue=message.queue,
            priority=message.priority,
            eta=message.eta,
            payload=message.encode(),
            task=message.task,
            attempt=message.attempt,
        )


@dataclass(frozen=True, slots=True)
class Promoted:
    """What :meth:`~taskqueue.broker.Producer.promote_due` did to one queue: how many delayed
    messages it moved to ready, and how long until the next delayed one is due (None: none
    is waiting)."""

    moved: int
    next_due_in: timedelta | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed message: the raw payload (it may not decode), and the claim's owner token.

    ``problem`` is set when the broker's own record of the message is malformed (garbage in
    the store: not the framing the broker writes); the consumer dead-letters such a delivery
    with that reason instead of running it. The payload is then whatever could be read.
    """

    message_id: str
    queue: str
    payload: bytes
    token: str
    lease_until: datetime
    problem: str | None = None
    # How many times the message's current attempt has been delivered, this one included:
    # more than 1 means earlier deliveries ended without an outcome (the worker or the pool
    # process died). A retry (a new attempt) starts again from 1.
    deliveries: int = 1

    def renewed(self, lease_until: datetime) -> Delivery:
        """This claim with its lease renewed until ``lease_until`` (what ``extend`` returns;
        ``problem`` and ``deliveries`` are left at their defaults)."""
        return Delivery(
            message_id=self.message_id,
            queue=self.queue,
            payload=self.payload,
            token=self.token,
            lease_until=lease_until,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message_id: str
    queue: str
    payload: bytes
    reason: str
    at: datetime


# A fenced enqueue names the lease and the fencing token its sender holds.
Fence = tuple[str, int]


@dataclass(frozen=True, slots=True)
class AckAction:
    """Settle by removing the message (finished, expired, or failed for good)."""


@dataclass(frozen=True, slots=True)
class RetryAction:
    """Settle by replacing the message with ``message`` (attempt + 1, or the same message put
    back by a rate limit), delayed until ``eta``."""

    message: Message
    eta: datetime


@dataclass(frozen=True, slots=True)
class RedeliverAction:
    """Settle by putting the message back to ready, unchanged, at the head of its priority (it
    was claimed before what is ready now): its run ended without an outcome (the pool process
    died). Not a retry: the attempt stays, and its delivery count is kept, so the next claim
    counts on from it."""


@dataclass(frozen=True, slots=True)
class DeadLetterAction:
    """Settle by moving the message to its queue's dead letters with ``reason``."""

    reason: str


SettleAction = AckAction | RetryAction | RedeliverAction | DeadLetterAction
ACK = AckAction()
REDELIVER = RedeliverAction()


@dataclass(frozen=True, slots=True)
class Settlement:
    """One outcome for :meth:`~taskqueue.broker.Consumer.settle_many`: what to do with the
    claimed message and the task state to record with it (None: record nothing)."""

    delivery: Delivery
    action: SettleAction
    status: TaskStatus | None
