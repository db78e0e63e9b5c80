"""Which workers run, where, and what (``beat workers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskqueue.broker import WorkerHeartbeats
from taskqueue.heartbeats import WorkerSeen


def list_workers(broker: WorkerHeartbeats) -> list[WorkerSeen]:
    """Live workers first, then the ones missed recently, each group by name."""
    return sorted(broker.workers(), key=lambda w: (not w.live, w.name))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def worker_data(seen: WorkerSeen) -> dict[str, Any]:
    """One worker as JSON data (``beat workers --json``, the dashboard's API)."""
    data: dict[str, Any] = {
        "name": seen.name,
        "state": "live" if seen.live else "missed",
        "last_seen": _iso(seen.last_seen),
        "expires_at": _iso(seen.expires_at),
        "problem": seen.problem,
    }
    record = seen.record
    if record is not None:
        data.update(
            host=record.host,
            pid=record.pid,
            version=record.version,
            queues=list(record.queues),
            pool=record.pool,
            concurrency=record.concurrency,
            started_at=_iso(record.started_at),
            tasks=[
                {"id": t.id, "task": t.task, "started_at": _iso(t.started_at)} for t in record.tasks
            ],
        )
    return data
