"""Dead letters and dropping messages (``beat dead``, ``beat purge``): listing with what each
dead letter was, requeueing, purging. Every destructive function returns its counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from taskqueue.broker import QueueInspection, QueueMaintenance
from taskqueue.dead_letters import Requeued
from taskqueue.message import Message, decode_payload
from taskqueue.records import DeadLetter

# Dead letters listed per queue unless asked for more.
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """A dead letter with what its payload says: the task and the attempts it had (None when
    the payload is not a message: ``problem`` says why)."""

    message_id: str
    queue: str
    reason: str
    at: datetime
    task: str | None
    attempts: int | None
    problem: str | None = None


def view(letter: DeadLetter) -> DeadLetterView:
    decoded = decode_payload(letter.payload)
    if isinstance(decoded, Message):
        return DeadLetterView(
            letter.message_id, letter.queue, letter.reason, letter.at, decoded.task,
            decoded.attempt + 1,
        )  # fmt: skip
    task, attempt = decoded.named or (None, None)
    return DeadLetterView(
        letter.message_id, letter.queue, letter.reason, letter.at, task,
        None if attempt is None else attempt + 1, f"payload is not a message: {decoded.reason}",
    )  # fmt: skip


def queues_with_dead(broker: QueueInspection, queue: str | None) -> list[str]:
    """``[queue]``, or every queue holding dead letters."""
    if queue is not None:
        return [queue]
    return [s.name for s in broker.queue_stats() if s.dead > 0]


def list_dead(
    broker: QueueInspection, queue: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[DeadLetterView]:
    """The dead letters of ``queue`` (or of every queue), oldest first, ``limit`` per queue."""
    return [
        view(letter)
        for name in queues_with_dead(broker, queue)
        for letter in broker.dead_letters(name, limit)
    ]


def dead_data(letter: DeadLetterView) -> dict[str, Any]:
    """JSON data of a dead letter (``--json``, the dashboard's API)."""
    return {
        "id": letter.message_id,
        "queue": letter.queue,
        "task": letter.task,
        "attempts": letter.attempts,
        "reason": letter.reason,
        "at": letter.at.isoformat(),
        "problem": letter.problem,
    }


class Maintenance(QueueInspection, QueueMaintenance, Protocol):
    """The roles the destructive operations need, and the broker's clock."""

    def now(self) -> datetime: ...


@dataclass(slots=True)
class RequeueReport:
    """What a requeue did over every queue it looked in."""

    requeued: list[tuple[str, str]] = field(default_factory=list)  # (queue, id)
    refused: dict[str, str] = field(default_factory=dict)  # id -> why
    missing: list[str] = field(default_factory=list)  # ids asked for, not dead anywhere


def requeue(
    broker: Maintenance, message_ids: Sequence[str] | None, queue: str | None = None
) -> RequeueReport:
    """Requeue the dead letters of ``message_ids`` (None: all) in ``queue`` (None: every
    queue) as new deliveries: same id, attempts reset."""
    report = RequeueReport()
    for name in queues_with_dead(broker, queue):
        done: Requeued = broker.requeue_dead(name, message_ids)
        report.requeued += [(name, i) for i in done.requeued]
        report.refused.update(done.refused)
    if message_ids is not None:
        found = {i for _, i in report.requeued} | set(report.refused)
        report.missing = [i for i in message_ids if i not in found]
    return report


def purge_dead(
    broker: Maintenance,
    queue: str | None = None,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete dead letters (older than ``older_than`` before ``now``, the broker's clock by
    default) of ``queue`` or every queue; how many per queue."""
    cutoff = None
    if older_than is not None:
        cutoff = (now if now is not None else broker.now()) - older_than
    return {name: broker.purge_dead(name, cutoff) for name in queues_with_dead(broker, queue)}


def purge_queue(broker: QueueMaintenance, queue: str) -> int:
    """Drop ``queue``'s ready messages; how many."""
    return broker.purge_ready(queue)
