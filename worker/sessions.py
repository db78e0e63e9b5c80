"""The process sessions a task started, and ending every process in them at the hard limit.

The ``command`` task starts its program in a new session (``start_new_session=True``) whose id is
the program's pid; every process the program starts stays in that session unless it calls
``setsid`` itself, even after its parent exits and it is re-parented to PID 1. So "every process
a task started" is "every process in the sessions it reported", found by the session id field of
``/proc/PID/stat``. The task reports each session with :func:`started`, which hands it to
whatever the pool installed:

- prefork: the child process sends it to the parent, which owns the deadlines; at the hard limit
  the parent also walks ``/proc`` for the child's descendants (a program started a moment ago,
  whose report is not read yet) and kills their sessions too;
- threads: the pool records it against the task's thread and kills the sessions of a task it
  abandons at the hard limit.

Without ``/proc`` (not Linux) the scans find nothing and only the process group kill remains.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

Reporter = Callable[[int], None]

_local = threading.local()
_process_reporter: Reporter | None = None
# A session that keeps forking faster than it is killed: give up after this many sweeps.
_MAX_SWEEPS = 100
# Between sweeps: a process just sent SIGKILL shows as running until the kernel has ended it.
_SWEEP_PAUSE_S = 0.002


def started(sid: int) -> None:
    """Tell the pool that the running task started session ``sid``."""
    reporter: Reporter | None = getattr(_local, "reporter", None) or _process_reporter
    if reporter is not None:
        reporter(sid)


def set_process_reporter(reporter: Reporter | None) -> None:
    """Every thread of this process reports to ``reporter`` (a prefork child: one task)."""
    global _process_reporter
    _process_reporter = reporter


@contextlib.contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    """Within the block, the calling thread reports to ``reporter`` (a thread pool's task)."""
    _local.reporter = reporter
    try:
        yield
    finally:
        _local.reporter = None


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    sid: int
    zombie: bool


def scan() -> list[ProcInfo]:
    """Every process visible in ``/proc`` (empty where there is none)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    procs: list[ProcInfo] = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
            fields = data[data.rindex(b")") + 2 :].split()
            procs.append(
                ProcInfo(int(name), int(fields[1]), int(fields[3]), fields[0] in (b"Z", b"X"))
            )
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return procs


def descendants(procs: list[ProcInfo], root: int) -> list[ProcInfo]:
    """The processes below ``root`` in the parent tree of ``procs``."""
    children: dict[int, list[ProcInfo]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    found: list[ProcInfo] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child.pid)
    return found


def _protected() -> tuple[set[int], set[int]]:
    """(pids, sessions) that are never killed: this process and its own session."""
    return {os.getpid(), 1}, {0, 1, os.getsid(0)}


def kill_sessions(sessions: Collection[int]) -> int:
    """SIGKILL every process in ``sessions`` until none is left; returns how many were killed.

    Sweeps again after each round, since a process may have forked before it died (and one just
    killed may still show as running for a moment).
    """
    pids, own = _protected()
    targets = set(sessions) - own
    if not targets:
        return 0

    def alive() -> list[int]:
        return [p.pid for p in scan() if p.sid in targets and not p.zombie and p.pid not in pids]

    return len(_sweep(alive))


def _sweep(alive: Callable[[], Collection[int]]) -> set[int]:
    """SIGKILL what ``alive()`` finds, pause and look again, until it finds nothing (at most
    ``_MAX_SWEEPS`` rounds); returns the pids that were signalled."""
    killed: set[int] = set()
    for _ in range(_MAX_SWEEPS):
        found = alive()
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(_SWEEP_PAUSE_S)
    return killed


def kill_process_tree(root: int, sessions: Collection[int]) -> None:
    """End ``root`` (a prefork child), its process group, everything below it and every process
    in the sessions it or its descendants started, leaving none to be re-parented alive.

    ``root`` is stopped first so it cannot start anything more while its descendants are found.
    """
    pids, own = _protected()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(root, signal.SIGSTOP)
    targets = set(sessions)

    def alive() -> set[int]:
        procs = scan()
        below = [p for p in descendants(procs, root) if not p.zombie]
        targets.update(p.sid for p in below)
        targets.difference_update(own)
        found = {p.pid for p in below} | {p.pid for p in procs if p.sid in targets and not p.zombie}
        return found - (pids | {root})

    _sweep(alive)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(root, signal.SIGKILL)
