"""Tasks for the entry-policy process tests (imported by the worker with ``-A policy_tasks``)."""

from __future__ import annotations

import time

from worker.registry import task


@task(name="p.run")
def run(seconds: float, path: str) -> None:
    """Append ``start <t>`` and ``end <t>`` (monotonic-free wall seconds) around a sleep."""
    with open(path, "a") as f:
        f.write(f"start {time.time()}\n")
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write(f"end {time.time()}\n")


@task(name="p.fail")
def fail() -> None:
    raise RuntimeError("p.fail always fails")
