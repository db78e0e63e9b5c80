"""A daemon started by a test, with the file its stdout and stderr go to.

One log reader and one wait-for-a-line loop for the beat, worker and fault-test processes.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass
class LoggedProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    # How long wait_for_log waits unless told (subclasses for slower daemons say more).
    WAIT_S: ClassVar[float] = 15
    # What the process is, for the failure messages.
    WHAT: ClassVar[str] = "process"

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
