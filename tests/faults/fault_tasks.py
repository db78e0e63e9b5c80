"""Tasks run by the fault tests' workers (``-A fault_tasks``; tests/faults is on PYTHONPATH).

Each run appends ``start <label> <pid>`` and ``end <label> <pid>`` lines to a file, so a test
can count executions (at least once) independently of what the broker recorded (once).
"""

from __future__ import annotations

import os
import time

from tests.marks import append_mark
from worker import task


@task(name="f.mark")
def mark(path: str, label: str, seconds: float = 0.0) -> int:
    append_mark(path, f"start {label} {os.getpid()}")
    if seconds:
        time.sleep(seconds)
    append_mark(path, f"end {label} {os.getpid()}")
    return os.getpid()
