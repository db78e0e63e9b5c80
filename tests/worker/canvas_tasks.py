"""Tasks the canvas tests send (``-A canvas_tasks``): each run appends a line to a marks file,
so a test counts executions independently of what the broker recorded."""

from __future__ import annotations

import os
import time
from typing import Any

from tests.marks import append_mark
from worker import task


@task(name="cv.add")
def add(a: int, b: int) -> int:
    return a + b


@task(name="cv.step")
def step(value: int, path: str, label: str, seconds: float = 0.0) -> int:
    """Append ``start label``, sleep, append ``end label``; value + 1."""
    append_mark(path, f"start {label} {os.getpid()}")
    if seconds:
        time.sleep(seconds)
    append_mark(path, f"end {label} {os.getpid()}")
    return value + 1


@task(name="cv.boom")
def boom(text: str) -> None:
    raise ValueError(text)


@task(name="cv.record")
def record(*args: Any, path: str) -> list[Any]:
    """Append the arguments it got (a callback's view of its parent) as one line."""
    append_mark(path, repr(list(args)))
    return list(args)


@task(name="cv.at")
def at(value: int, path: str, instant: float) -> int:
    """Sleep until ``instant`` (time.time()), so that members finish together; value."""
    time.sleep(max(0.0, instant - time.time()))
    append_mark(path, f"member {value} {os.getpid()}")
    return value


@task(name="cv.total")
def total(values: list[int], path: str) -> int:
    append_mark(path, f"total {values}")
    return sum(values)
