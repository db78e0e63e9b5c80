"""The broker contract shared by the Redis and SQLite brokers, split by role.

A caller is typed with the role it uses: :class:`Producer` (beat's dispatch, ``beat send``),
:class:`Consumer` (the worker), :class:`QueueInspection` (``beat queues``), together
:class:`QueueDelivery`; :class:`TaskStates` (``beat status``, the worker's statuses);
:class:`LeaderLease` (beat's elector); :class:`WorkerHeartbeats` (``beat workers``);
:class:`Revocations` (``beat revoke``); :class:`QueueMaintenance` (``beat dead``, ``beat
purge``). Each is a view of one :class:`Connection` (``url``,
``ping``, ``close``); :class:`Broker` is all of them, what both brokers implement. The
records the methods take and return are in :mod:`taskqueue.records`.

Delivery is at least once. A message moves through:

    enqueue_once ──> ready (or delayed until its eta) ──claim_many──> in flight (leased)
    settle_many, per message, one of:
        in flight ──ACK──> gone               (task finished, or failed for good and recorded)
        in flight ──RetryAction──> delayed    (attempt + 1, new eta)
        in flight ──REDELIVER──> ready        (the pool process died under it: not a retry)
        in flight ──DeadLetterAction──> dead  (undecodable, unknown task, out of retries)
    in flight ──release──> ready              (worker shutting down before/while running it)
    in flight, lease expired ──recover_expired──> ready  (its worker died)

Every operation on an in-flight message checks the claim's owner token, so a worker whose lease
expired (and whose message was redelivered) cannot settle, release or extend the new claim.

Leader leases (beat's high availability) live in the broker too, next to the messages, so that
a *fenced* enqueue can check the lease and push in one atomic step: ``acquire_lease`` hands out
a fencing token that grows on every new holder, and ``enqueue_encoded(..., fence=(name,
token))`` refuses the whole call with :class:`~taskqueue.errors.Fenced` unless that token is
still the live lease's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from taskqueue.dead_letters import Requeued
from taskqueue.heartbeats import WorkerRecord, WorkerSeen
from taskqueue.message import Message

# The records are re-exported: they were defined here before the split, and callers (the
# worker's consumer among them) import them from this module.
from taskqueue.records import (
    ACK,
    DEFAULT_DEDUPE_TTL,
    DEFAULT_RESULT_TTL,
    FINAL_STATES,
    REDELIVER,
    AckAction,
    DeadLetter,
    DeadLetterAction,
    Delivery,
    EncodedMessage,
    Fence,
    LeaseHolder,
    Promoted,
    QueueStats,
    RedeliverAction,
    RetryAction,
    Revocation,
    RevokedWhere,
    SettleAction,
    Settlement,
    TaskState,
    TaskStatus,
)

__all__ = [
    "ACK",
    "DEFAULT_DEDUPE_TTL",
    "DEFAULT_RESULT_TTL",
    "FINAL_STATES",
    "REDELIVER",
    "AckAction",
    "Broker",
    "ChordParts",
    "Connection",
    "Consumer",
    "DeadLetter",
    "DeadLetterAction",
    "Delivery",
    "EncodedMessage",
    "Fence",
    "LeaderLease",
    "LeaseHolder",
    "Producer",
    "Promoted",
    "QueueDelivery",
    "QueueInspection",
    "QueueMaintenance",
    "QueueStats",
    "RedeliverAction",
    "RetryAction",
    "Revocation",
    "Revocations",
    "RevokedWhere",
    "SettleAction",
    "Settlement",
    "TaskState",
    "TaskStates",
    "TaskStatus",
    "WorkerHeartbeats",
]


class Connection(Protocol):
    """What every role has: the (redacted) URL, a health check, and closing."""

    url: str  # with the password redacted

    def ping(self) -> None:
        """Raise :class:`~taskqueue.errors.BrokerUnavailable` if the broker does not answer."""
        ...

    def close(self) -> None: ...


class Producer(Connection, Protocol):
    """Enqueue-once, one message or a batch (beat's dispatch, ``beat send``)."""

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

    def promote_due(self, queue: str) -> Promoted:
        """Move every delayed message of ``queue`` whose eta has come to ready now (what a
        worker's claim does a step at a time), so they are claimable without waiting for a
        claim; a batch at a time, each atomic. Beat calls it at the instant of the fires it
        pushed ahead. Safe to call any time, by anyone: it moves only what is due."""
        ...


class Consumer(Connection, Protocol):
    """Claim in batches, keep the claims alive, settle them (the worker)."""

    def claim_many(
        self,
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
    ) -> list[Delivery]:
        """Claim up to ``max_count`` messages at once and record each one STARTED.

        Moves due delayed messages to ready first. Queues in the given order, within a queue
        highest priority first, then FIFO. Waits up to ``timeout`` only while nothing is
        claimable; returns as soon as at least one message is claimed ([] on timeout). Every
        delivery has its own token and stays in flight, owned by it, until ``lease`` runs out.
        Each claimed message whose payload names a task gets the status STARTED (attempts = its
        attempt + 1, started_at = now) in the same atomic step, so a caller asks only for as
        many as it can start right away: a claimed message *is* started.
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

    def settle_and_claim(
        self,
        items: Sequence[Settlement],
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        max_count: int,
        *,
        result_ttl: timedelta = DEFAULT_RESULT_TTL,
    ) -> tuple[list[bool], list[Delivery]]:
        """:meth:`settle_many` of ``items``, then :meth:`claim_many` without waiting: the
        worker's loop when tasks finished and slots are free. Each step keeps its own
        guarantees; a broker may send both at once (one round trip on Redis).

        This body, for a broker class that subclasses :class:`Consumer`, is the two calls in
        turn (SQLite: two transactions, a local file has no round trip to save)."""
        settled = self.settle_many(items, result_ttl=result_ttl)
        return settled, self.claim_many(queues, consumer, lease, timedelta(0), max_count)

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease; None if the claim is no longer ours (lease expired, redelivered)."""
        ...

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged (worker shutting down); False if not ours."""
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

    def heartbeat(self, consumer: str, queues: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues`` for ``ttl``."""
        ...

    def forget_consumer(self, consumer: str, queues: Sequence[str]) -> None:
        """Remove ``consumer``'s heartbeat now (a clean stop), instead of letting it expire."""
        ...


class QueueInspection(Connection, Protocol):
    """What is in the queues (``beat queues``, the worker's metrics)."""

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name."""
        ...

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]: ...


class QueueDelivery(Producer, Consumer, QueueInspection, Protocol):
    """The queue role whole: enqueue-once, batch delivery, and its figures."""


class TaskStates(Connection, Protocol):
    """Task statuses and results, kept for a lifetime after a final state."""

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state (and result or error); kept ``ttl`` after a final state."""
        ...

    def get_status(self, task_id: str) -> TaskStatus | None: ...

    def get_statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus | None]:
        """:meth:`get_status` of every id in one round trip (Redis: one pipeline, and one more
        for the ids with no status record; SQLite: one query), by id."""
        ...

    def wait_done(
        self, task_id: str, timeout: timedelta, poll_interval: timedelta
    ) -> TaskStatus | None:
        """Wait until ``task_id`` may have reached a final state, or ``timeout`` passes (or
        sooner: the caller checks the status returned and waits again); its status then
        (None: no status recorded; a message still queued is not looked up). Redis blocks
        on a notification the final state pushes, and reads the status in the same round
        trip; SQLite sleeps ``poll_interval``. A zero ``timeout`` only reads."""
        ...

    def forget(self, task_id: str) -> None:
        """Delete the status (and result) of ``task_id``."""
        ...


class LeaderLease(Connection, Protocol):
    """Named leases with fencing tokens (beat's high availability)."""

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


class ChordParts(Connection, Protocol):
    """The members' results of a chord, counted atomically (worker.canvas.chord)."""

    def chord_part(
        self, chord_id: str, index: int, size: int, value: Any, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[Any] | None:
        """Record member ``index``'s ``value`` (JSON) of chord ``chord_id`` (kept ``ttl``).

        One atomic step: returns every member's value in order once all ``size`` are recorded
        (to each caller from then on: recording the same index again changes nothing, so the
        callback's enqueue-once id keeps it to one send), else None. DecodeError if the
        stored parts are garbage.
        """
        ...


class WorkerHeartbeats(Connection, Protocol):
    """Each worker's heartbeat record: who runs, where, and what (``beat workers``)."""

    def publish_worker(self, record: WorkerRecord, ttl: timedelta) -> None:
        """Store ``record`` as seen now (the broker's clock), live for ``ttl``."""
        ...

    def remove_worker(self, name: str) -> None:
        """Remove worker ``name``'s record now (a clean stop), instead of letting it expire."""
        ...

    def workers(self) -> list[WorkerSeen]:
        """Every worker live or missed recently (see :mod:`taskqueue.heartbeats`), by name;
        a garbage record is a row with its ``problem`` named, never an error."""
        ...


@runtime_checkable
class Revocations(Connection, Protocol):
    """Revoking task ids (``beat revoke``, ``TaskResult.revoke``): a revoked id never runs."""

    def revoke(
        self, task_id: str, *, terminate: bool = False, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> Revocation:
        """Revoke ``task_id`` for ``ttl``: a ready or delayed message is removed and recorded
        REVOKED at once; a running one is terminated by its worker if ``terminate`` (and then
        recorded REVOKED), else it finishes. Until the revocation expires, no claim delivers
        the id again (a redelivered copy, a new message): the claim drops it, atomically."""
        ...

    def terminations(self, task_ids: Sequence[str]) -> set[str]:
        """Those of ``task_ids`` revoked with ``terminate`` (a worker asks for its running
        tasks)."""
        ...


class QueueMaintenance(Connection, Protocol):
    """Requeueing dead letters and dropping messages (``beat dead``, ``beat purge``)."""

    def requeue_dead(self, queue: str, message_ids: Sequence[str] | None = None) -> Requeued:
        """Put the queue's dead letters (all, or those of ``message_ids``) back to ready as new
        deliveries: same id, attempts reset, recorded QUEUED. A payload that is no message, or
        an id already waiting in the queue, is refused and named."""
        ...

    def purge_dead(self, queue: str, older_than: datetime | None = None) -> int:
        """Delete the queue's dead letters (recorded at or before ``older_than``); how many."""
        ...

    def purge_ready(self, queue: str) -> int:
        """Drop the queue's ready messages (not delayed, not in flight); how many."""
        ...


@runtime_checkable
class Broker(
    QueueDelivery,
    TaskStates,
    LeaderLease,
    ChordParts,
    WorkerHeartbeats,
    Revocations,
    QueueMaintenance,
    Protocol,
):
    """Every role on one connection. Implementations: :mod:`taskqueue.redis`,
    :mod:`taskqueue.sqlite`."""
