"""The parent's record of one pool process, and the small process helpers the parent uses."""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection

from worker.pool import Job
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
