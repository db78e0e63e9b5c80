"""Tasks for the entry-policy process tests (imported by the worker with ``-A policy_tasks``)."""

from __future__ import annotations

import time
from typing import Any

from worker.registry import task


@task(name="p.run", bind=True)
def run(self: Any, seconds: float, path: str) -> None:
    """Append ``start <t> <task id> <delivery>`` and ``end <t> <task id> <delivery>`` (wall
    seconds) around a sleep: a failure then names which fire ran, and whether a run was a
    second delivery of one fire rather than another fire."""
    tag = f"{self.request.id} {self.request.deliveries}"
    with open(path, "a") as f:
        f.write(f"start {time.time()} {tag}\n")
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write(f"end {time.time()} {tag}\n")


@task(name="p.fail")
def fail() -> None:
    raise RuntimeError("p.fail always fails")
