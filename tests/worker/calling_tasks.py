"""Tasks the calling-API tests send (imported by worker processes with ``-A calling_tasks``)."""

from __future__ import annotations

import time

from worker.registry import task


@task(name="c.add")
def add(a: int, b: int) -> int:
    return a + b


@task(name="c.boom")
def boom(text: str) -> None:
    raise ValueError(text)


@task(name="c.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task(name="c.lopri", queue="lopri")
def lopri() -> str:
    return "low"
