"""Tasks the pool tests run; imported by the test process and by every pool child."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from consumer_tasks import add, noop  # noqa: F401  (t.add and t.noop: the pool tests run them too)

from tests.marks import append_mark
from worker.errors import SoftTimeLimitExceeded
from worker.registry import task


def _busy_until_soft_limit(spin: int, cleanup: Callable[[], None]) -> None:
    """Busy in Python code (``sum(range(spin))`` over and over) until the soft time limit
    raises; then ``cleanup()`` and re-raise."""
    try:
        while True:
            sum(range(spin))
    except SoftTimeLimitExceeded:
        cleanup()
        raise


class Boom(Exception):
    pass


@task(name="pool.pid")
def pid() -> int:
    return os.getpid()


@task(name="pool.fail")
def fail(text: str) -> None:
    raise Boom(text)


@task(name="pool.bad_result")
def bad_result() -> object:
    return {1, 2}


@task(name="pool.sleep")
def sleep(seconds: float, path: str | None = None) -> int:
    if path:
        append_mark(path, f"start {os.getpid()}")
    time.sleep(seconds)
    if path:
        append_mark(path, "end")
    return os.getpid()


@task(name="pool.soft_cleanup")
def soft_cleanup(path: str) -> None:
    """Busy in Python code until the soft limit; cleans up (writes a line) and re-raises."""
    started = time.monotonic()
    _busy_until_soft_limit(
        100, lambda: append_mark(path, f"cleanup {time.monotonic() - started:.6f}")
    )


@task(name="pool.catch_soft_and_return")
def catch_soft_and_return() -> str:
    try:
        while True:
            time.sleep(0.001)
    except SoftTimeLimitExceeded:
        return "cleaned up"


@task(name="pool.swallow_then_block")
def swallow_then_block(path: str, how: str = "sleep") -> None:
    """Swallows the soft limit, then blocks in C code until killed."""
    try:
        while True:
            time.sleep(0.005)
    except SoftTimeLimitExceeded:
        append_mark(path, "swallowed")
    if how == "select":
        while True:
            select.select([], [], [], 1000)
    while True:
        try:
            time.sleep(1000)
        except SoftTimeLimitExceeded:
            append_mark(path, "swallowed again")


@task(name="pool.spawn_sleeper")
def spawn_sleeper(path: str) -> None:
    """Like the ``command`` task without its own session: the program is in our group."""
    proc = subprocess.Popen(["sleep", "1000"])
    Path(path).write_text(str(proc.pid))
    proc.wait()


@task(name="pool.hog")
def hog(mib: int) -> int:
    block = bytearray(mib * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1  # touch every page so it is resident
    return os.getpid()


@task(name="pool.timed_soft")
def timed_soft(path: str) -> None:
    """For the precision benchmark: records when the task started and when the limit hit."""
    started = time.time()
    _busy_until_soft_limit(50, lambda: append_mark(path, f"{started} {time.time()}"))


@task(name="pool.timed_hard")
def timed_hard(path: str) -> None:
    append_mark(path, f"{time.time()} {os.getpid()}")
    while True:
        with contextlib.suppress(SoftTimeLimitExceeded):  # ignore it: only a kill ends this
            time.sleep(1000)


@task(name="pool.ignore_sigalrm")
def ignore_sigalrm(path: str) -> None:
    """Takes SIGALRM away from the pool: only the parent's SIGUSR1 can deliver the soft limit."""
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    _busy_until_soft_limit(100, lambda: append_mark(path, "cleanup"))
