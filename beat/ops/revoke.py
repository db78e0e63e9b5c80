"""Revoking a task by id (``beat revoke``): what the broker did, in words."""

from __future__ import annotations

from typing import Any

from taskqueue.broker import Revocations
from taskqueue.records import DEFAULT_RESULT_TTL, Revocation, RevokedWhere


def revoke(broker: Revocations, task_id: str, *, terminate: bool = False) -> Revocation:
    """Revoke ``task_id`` for as long as results are kept (see
    :meth:`~taskqueue.broker.Revocations.revoke`)."""
    if not task_id:
        raise ValueError("task id: must not be empty")
    return broker.revoke(task_id, terminate=terminate, ttl=DEFAULT_RESULT_TTL)


def describe(revocation: Revocation) -> str:
    """One line saying what was done."""
    r = revocation
    until = f"revoked until {r.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    if r.where is RevokedWhere.QUEUED or r.where is RevokedWhere.DELAYED:
        return f"{r.task_id}: removed 1 {r.where.value} message from {r.queue}; {until}"
    if r.where is RevokedWhere.RUNNING:
        how = (
            "its worker terminates it within a second"
            if r.terminate
            else "it runs to its end (--terminate stops it); a redelivery will not run"
        )
        return f"{r.task_id}: running in {r.queue}: {how}; {until}"
    return f"{r.task_id}: no queued, delayed or running message; it will not run; {until}"


def revocation_data(revocation: Revocation) -> dict[str, Any]:
    """JSON data of a revocation (``--json``, the dashboard's API)."""
    return {
        "id": revocation.task_id,
        "where": revocation.where.value,
        "queue": revocation.queue,
        "terminate": revocation.terminate,
        "expires_at": revocation.expires_at.isoformat(),
    }
