"""The parent's record of one pool process, the outcome of a job whose process died, and the
small process helpers the parent uses."""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from worker.pool import Job, Outcome, OutcomeKind, hard_limit_error
from worker.prefork.protocol import RunJob


class ChildState(enum.Enum):
    BOOTING = "booting"  # started, importing task modules
    IDLE = "idle"
    BUSY = "busy"
    EXITING = "exiting"  # told to exit after its last job; its replacement already exists


@dataclass(slots=True, eq=False)
class Child:
    proc: subprocess.Popen[bytes]
    conn: Connection
    state: ChildState = ChildState.BOOTING
    job: Job | None = None
    started_at: datetime | None = None
    soft_at_s: float | None = None  # monotonic; None once signalled or when there is no limit
    hard_at_s: float | None = None
    killed_at: datetime | None = None  # set when the monitor killed it for the hard limit
    revoked: bool = False  # killed because its job was revoked with terminate, not a limit
    tasks_done: int = 0
    retire: bool = False  # exit after the current job (recycle)
    boot_error: str | None = None
    sessions: set[int] = field(default_factory=set)  # started by the current job

    @property
    def pid(self) -> int:
        return self.proc.pid


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def send_quietly(conn: Connection, message: RunJob | None) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(message)


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def exit_outcome(child: Child, job: Job, killed_at: datetime | None, code: int) -> Outcome:
    """The outcome of ``job`` when ``child`` exited under it: REVOKED (killed by terminate),
    TIME_LIMIT (killed by the monitor, ``killed_at``) or LOST (anything else)."""
    if killed_at is not None and child.revoked:
        return Outcome(
            job_id=job.id,
            kind=OutcomeKind.REVOKED,
            error=f"revoked: process {child.pid} killed",
            started_at=child.started_at,
            finished_at=killed_at,
        )
    if killed_at is not None:
        return Outcome(
            job_id=job.id,
            kind=OutcomeKind.TIME_LIMIT,
            error=hard_limit_error(job.time_limit, f"process {child.pid} killed"),
            exc_type="worker.errors.TimeLimitExceeded",
            started_at=child.started_at,
            finished_at=killed_at,
        )
    return Outcome(
        job_id=job.id,
        kind=OutcomeKind.LOST,
        error=f"pool process {child.pid} died ({exit_text(code)})",
        exc_type="worker.errors.WorkerLost",
        started_at=child.started_at,
        finished_at=datetime.now(UTC),
    )
