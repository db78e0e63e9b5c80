"""Tasks the worker tests run (imported by worker processes with ``-A consumer_tasks``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.marks import append_mark
from worker.errors import SoftTimeLimitExceeded
from worker.registry import task


class Flaky(Exception):
    pass


@task(name="t.add")
def add(a: int, b: int) -> int:
    return a + b


@task(name="t.noop")
def noop() -> None:
    return None


@task(name="t.sleep_mark")
def sleep_mark(seconds: float, path: str, label: str = "done") -> str:
    """Sleep, then record a completion line (one per finished run)."""
    append_mark(path, f"start {label} {os.getpid()}")
    time.sleep(seconds)
    append_mark(path, f"end {label}")
    return label


@task(
    name="t.flaky", autoretry_for=(Flaky,), max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2
)
def flaky(path: str, failures: int) -> str:
    """Fails ``failures`` times (counted in a file), then succeeds."""
    runs = Path(path).read_text().count("\n") if Path(path).exists() else 0
    append_mark(path, "run")
    if runs < failures:
        raise Flaky(f"run {runs + 1} fails")
    return f"ok after {runs + 1}"


@task(name="t.soft", soft_time_limit=0.3, time_limit=5)
def soft(path: str) -> str:
    try:
        while True:
            time.sleep(0.01)
    except SoftTimeLimitExceeded:
        append_mark(path, "cleanup")
        raise


@task(name="t.hang", time_limit=0.5)
def hang() -> None:
    time.sleep(30)


@task(name="t.limited", rate_limit="1/s")
def limited(path: str) -> None:
    append_mark(path, f"{time.monotonic()}")


@task(name="t.suicide")
def suicide(path: str) -> None:
    """Kills its own pool process every time (a segfault, the OOM killer)."""
    append_mark(path, f"run {os.getpid()}")
    os.kill(os.getpid(), signal.SIGKILL)


@task(name="t.die_once")
def die_once(path: str) -> str:
    """Kills its pool process on the first run only, then succeeds."""
    first = not Path(path).exists()
    append_mark(path, f"run {os.getpid()}")
    if first:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"
