"""The broker contract shared by the Redis and SQLite brokers.

Delivery is at least once. A message moves through:

    enqueue_once ──> ready (or delayed until its eta) ──claim──> in flight (leased to a consumer)
        in flight ──ack──> gone          (task finished, or failed for good and recorded)
        in flight ──retry──> delayed     (attempt + 1, new eta)
        in flight ──release──> ready     (worker shutting down before/while running it)
        in flight ──redeliver──> ready   (the pool process died under it: not a retry)
        in flight ──dead_letter──> dead  (undecodable, unknown task, out of retries)
        in flight, lease expired ──recover_expired──> ready  (its worker died)

Every operation on an in-flight message checks the claim's owner token, so a worker whose lease
expired (and whose message was redelivered) cannot ack, retry or extend the new claim.

Leader leases (beat's high availability) live in the broker too, next to the messages, so that
a *fenced* enqueue can check the lease and push in one atomic step: ``acquire_lease`` hands out
a fencing token that grows on every new holder, and ``enqueue_encoded(..., fence=(name,
token))`` refuses the whole call with :class:`~taskqueue.errors.Fenced` unless that token is
still the live lease's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, runtime_checkable

from taskqueue.message import MAX_MESSAGE_BYTES, MAX_PRIORITY, MIN_PRIORITY, Message, require_aware

# How long the broker remembers a message id for enqueue-once. Long enough to cover any window
# in which two beats (or a beat replaying after a crash) could produce the same fire; bounded so
# 100,000 entries firing every minute do not grow Redis without end.
DEFAULT_DEDUPE_TTL = timedelta(hours=24)
# How long task states and results are kept after a task reaches a final state.
DEFAULT_RESULT_TTL = timedelta(days=1)


class TaskState(StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    RETRY = "RETRY"
    EXPIRED = "EXPIRED"
    DEAD = "DEAD"


FINAL_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.EXPIRED, TaskState.DEAD})


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A message already encoded to its wire bytes, with the fields a broker routes by.

    Beat renders a burst of fires with :class:`~taskqueue.message.MessageTemplate` straight to
    bytes; building and encoding 100,000 :class:`Message` objects would cost most of the one
    second the burst may take. ``task`` and ``attempt`` are carried so that a broker which
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
class DeadLetter:
    message_id: str
    queue: str
    payload: bytes
    reason: str
    at: datetime


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


# A fenced enqueue names the lease and the fencing token its sender holds.
Fence = tuple[str, int]


class LeaseHolder(NamedTuple):
    """Who holds a lease (``lease_holder``): owner, fencing token, and when it runs out."""

    owner: str
    token: int
    expires_at: datetime


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
    """One outcome for :meth:`Broker.settle_many`: what to do with the claimed message and the
    task state to record with it (None: record nothing)."""

    delivery: Delivery
    action: SettleAction
    status: TaskStatus | None


@runtime_checkable
class Broker(Protocol):
    """A named-queue broker. Implementations: :mod:`taskqueue.redis`, :mod:`taskqueue.sqlite`."""

    url: str  # with the password redacted

    # --- producing -------------------------------------------------------------------------
    def enqueue_once(self, message: Message, *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL) -> bool:
        """Push ``message`` unless its id was seen within ``dedupe_ttl``; atomic with the push.

        Returns True if pushed, False if refused as a duplicate. A message with an ``eta`` in the
        future goes to the queue's delayed set. Records the task state QUEUED.
        """
        ...

    def enqueue_many(
        self, messages: Sequence[Message], *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> list[bool]:
        """Batch form of :meth:`enqueue_once` (pipelined); one bool per message, in order."""
        ...

    def enqueue_encoded(
        self,
        items: Sequence[EncodedMessage],
        *,
        dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL,
        fence: Fence | None = None,
    ) -> list[bool]:
        """:meth:`enqueue_many` for messages already encoded (beat's burst path).

        With ``fence=(lease, token)``, each atomic unit of the call (the Redis script call of
        one chunk, the SQLite transaction) first checks that ``token`` is the live lease's and
        otherwise pushes nothing and raises :class:`~taskqueue.errors.Fenced`.
        """
        ...

    # --- leader leases ---------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> int | None:
        """Take lease ``name`` for ``ttl`` if it is free, expired or already ``owner``'s.

        Returns the fencing token: a new, strictly larger one whenever the lease changes hands
        (or is taken again after it lapsed); the current one if ``owner`` still holds it.
        None if another owner holds it.
        """
        ...

    def renew_lease(self, name: str, owner: str, token: int, ttl: timedelta) -> bool:
        """Extend the lease by ``ttl`` from now; False if ``owner``/``token`` no longer hold it
        (it lapsed or changed hands: the caller is no longer the leader)."""
        ...

    def release_lease(self, name: str, owner: str, token: int) -> None:
        """Give the lease up (so a standby takes over at once); a no-op if not held."""
        ...

    def lease_holder(self, name: str) -> LeaseHolder | None:
        """The live holder of lease ``name``; None if free or expired."""
        ...

    # --- consuming -------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], consumer: str, lease: timedelta, timeout: timedelta
    ) -> Delivery | None:
        """Take the highest-priority ready message from the first non-empty queue in ``queues``.

        :meth:`claim_many` of one, without recording STARTED. Moves due delayed messages to
        ready first. Waits up to ``timeout`` for one; None if none.
        The message stays in flight, owned by the returned token, until ``lease`` runs out.
        """
        ...

    def claim_many(
        self,
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
    ) -> list[Delivery]:
        """Claim up to ``max_count`` messages at once and record each one STARTED.

        Order as repeated :meth:`claim`: queues in the given order, within a queue highest
        priority first, then FIFO. Waits up to ``timeout`` only while nothing is claimable;
        returns as soon as at least one message is claimed ([] on timeout). Every delivery has
        its own token. Each claimed message whose payload names a task gets the status STARTED
        (attempts = its attempt + 1, started_at = now) in the same atomic step, so a caller
        asks only for as many as it can start right away: a claimed message *is* started.
        """
        ...

    def settle_many(
        self, items: Sequence[Settlement], *, result_ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[bool]:
        """Apply each item's action and record its status, in one round trip / transaction.

        Per item, in order: False if the claim is no longer ours (lease lost, redelivered),
        and then neither the action nor the status is applied; True if both were. A final
        status is kept ``result_ttl``. Raises TypeError/ValueError, before writing anything,
        if a status result is not JSON.
        """
        ...

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease; None if the claim is no longer ours (lease expired, redelivered)."""
        ...

    def ack(self, delivery: Delivery) -> bool:
        """Remove a finished message; False if the claim is no longer ours (settle_many of one)."""
        ...

    def retry(self, delivery: Delivery, message: Message, eta: datetime) -> bool:
        """Replace the in-flight message with ``message`` (attempt + 1), delayed until ``eta``
        (settle_many of one)."""
        ...

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged (worker shutting down); False if not ours."""
        ...

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Move an in-flight message to the queue's dead-letter set with ``reason`` (settle_many
        of one)."""
        ...

    def recover_expired(self, now: datetime | None = None) -> int:
        """Return messages whose lease ran out (their worker died) to ready; how many.

        ``now`` is for tests ("as if it were this late", on the caller's clock); callers leave
        it out and the broker's own clock decides.
        """
        ...

    def now(self) -> datetime:
        """The broker's clock, the one its leases, etas and recovery go by (Redis: the
        server's ``TIME``; SQLite, one host: the local clock)."""
        ...

    # --- observing -------------------------------------------------------------------------
    def heartbeat(self, consumer: str, queues: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues`` for ``ttl``."""
        ...

    def forget_consumer(self, consumer: str, queues: Sequence[str]) -> None:
        """Remove ``consumer``'s heartbeat now (a clean stop), instead of letting it expire."""
        ...

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name."""
        ...

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]: ...

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state (and result or error); kept ``ttl`` after a final state."""
        ...

    def get_status(self, task_id: str) -> TaskStatus | None: ...

    def ping(self) -> None:
        """Raise :class:`~taskqueue.errors.BrokerUnavailable` if the broker does not answer."""
        ...

    def close(self) -> None: ...
