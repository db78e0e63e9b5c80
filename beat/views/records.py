"""Broker records as JSON data: what ``beat queues``, ``beat status``, ``beat list``'s leader
line and the dashboard print, from one definition each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskqueue.records import DeadLetter, LeaseHolder, QueueStats, TaskStatus


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# The columns of ``beat queues``, in its order: fields of QueueStats, each under its own name.
QUEUE_COLUMNS = ("name", "ready", "delayed", "in_flight", "dead", "consumers", "expired_lease")


def queue_data(stats: QueueStats) -> dict[str, Any]:
    """One queue's figures (:data:`QUEUE_COLUMNS`)."""
    return {column: getattr(stats, column) for column in QUEUE_COLUMNS}


def status_data(task_id: str, status: TaskStatus | None) -> dict[str, Any]:
    """``beat status --json``: a task's state, attempts, result or error (``"unknown"``: never
    seen, or its record expired)."""
    if status is None:
        return {
            "id": task_id,
            "task": None,
            "state": "unknown",
            "attempts": 0,
            "retries": 0,
            "deliveries": 0,
            "result": None,
            "error": None,
            "started_at": None,
            "finished_at": None,
            "parent_id": None,
            "children": [],
            "more_children": 0,
            "traceback": None,
        }
    return {
        "id": status.id,
        "task": status.task,
        "state": str(status.state),
        "attempts": status.attempts,
        # Retries: attempts after the first. Deliveries: claims of the current attempt
        # (more than 1: a worker or pool process died under it).
        "retries": max(0, status.attempts - 1),
        "deliveries": status.deliveries,
        "result": status.result,
        "error": status.error,
        "started_at": iso(status.started_at),
        "finished_at": iso(status.finished_at),
        # The task that sent this one, the calls and callbacks it sent (the first 1,000;
        # more_children: how many more), a failure's traceback.
        "parent_id": status.parent_id,
        "children": list(status.children),
        "more_children": status.more_children,
        "traceback": status.traceback,
    }


def leader_data(holder: LeaseHolder | None, problem: str | None = None) -> dict[str, Any] | None:
    """The leader as JSON data (None: no leader; ``{"error": ...}``: could not tell)."""
    if problem is not None:
        return {"error": problem}
    if holder is None:
        return None
    return {
        "owner": holder.owner,
        "token": holder.token,
        "lease_until": holder.expires_at.astimezone(UTC).isoformat(),
    }


def dead_letter_data(letter: DeadLetter) -> dict[str, Any]:
    """One dead letter: its id, queue, reason, when, and the task and attempt its payload
    names (None when the payload does not decode: the reason then says why)."""
    from taskqueue.message import named_task

    named = named_task(letter.payload)
    return {
        "id": letter.message_id,
        "queue": letter.queue,
        "reason": letter.reason,
        "at": iso(letter.at.astimezone(UTC)),
        "task": named[0] if named else None,
        "attempt": named[1] if named else None,
    }
