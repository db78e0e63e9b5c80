"""Bound tasks the task-context tests send (``-A context_tasks``): self.request,
self.update_state and self.retry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from worker.registry import task


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


@task(name="ctx.request", bind=True)
def request(self: Any, a: int, b: int = 0) -> dict[str, Any]:
    r = self.request
    return {
        "name": self.name,
        "id": r.id,
        "args": list(r.args),
        "kwargs": r.kwargs,
        "retries": r.retries,
        "deliveries": r.deliveries,
        "eta": _iso(r.eta),
        "expires": _iso(r.expires),
        "entry": r.entry,
        "scheduled_for": _iso(r.scheduled_for),
        "parent_id": r.parent_id,
        "root_id": r.root_id,
    }


@task(name="ctx.progress", bind=True)
def progress(self: Any, gate: str) -> str:
    """Report progress, then wait for the test to open the gate (a file)."""
    self.update_state(state="PROGRESS", meta={"done": 1, "total": 2})
    deadline = time.monotonic() + 20
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "finished"


@task(name="ctx.retry_forever", bind=True, max_retries=2)
def retry_forever(self: Any) -> None:
    raise self.retry(countdown=0.05, exc=ValueError(f"attempt {self.request.retries}"))


@task(name="ctx.retry_until", bind=True)
def retry_until(self: Any, wanted: int) -> int:
    if self.request.retries < wanted:
        raise self.retry(countdown="50ms", max_retries=5)
    return int(self.request.retries)
