"""A daemon started by a test, with the file its stdout and stderr go to.

One log reader and one wait-for-a-line loop for the beat, worker and fault-test processes.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self


@dataclass
class LoggedProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    # How long wait_for_log waits unless told (subclasses for slower daemons say more).
    WAIT_S: ClassVar[float] = 15
    # What the process is, for the failure messages.
    WHAT: ClassVar[str] = "process"

    @classmethod
    def launch(cls, argv: Sequence[str], log_path: Path, **popen: Any) -> Self:
        """Start ``argv`` with its stdout and stderr going to ``log_path``."""
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, **popen)
        return cls(proc, log_path)

    def reap(self) -> None:
        """Kill it if it still runs (at a test's teardown). A SIGSTOPped process is continued
        first: it would not die of SIGKILL until then."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float | None = None, count: int = 1) -> None:
        """Return once ``needle`` is logged ``count`` times; fail if the process exits first."""
        timeout = self.WAIT_S if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(needle) >= count:
                return
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"{self.WHAT} exited {code}:\n{self.log()[-4000:]}")
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} not logged in {timeout}s:\n{self.log()[-4000:]}")


@contextlib.contextmanager
def reaped(procs: Sequence[LoggedProcess]) -> Iterator[None]:
    """At the end of the block, :meth:`~LoggedProcess.reap` every process then in ``procs``
    (a starter fixture's list of what it started)."""
    try:
        yield
    finally:
        for p in procs:
            p.reap()
