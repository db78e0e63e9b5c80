"""Tasks the routing tests send (imported by worker processes with ``-A routing_tasks``)."""

from __future__ import annotations

from pathlib import Path

from worker.registry import task


@task(name="r.add")
def add(a: int, b: int) -> int:
    return a + b


@task(name="r.pinned", queue="pinned", time_limit=30)
def pinned() -> str:
    return "pinned"


@task(name="r.touch")
def touch(path: str, text: str) -> None:
    Path(path).write_text(text)
