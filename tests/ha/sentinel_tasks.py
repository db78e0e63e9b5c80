"""The task the Sentinel failover test's worker runs (``-A sentinel_tasks``): it appends its
own task id to a file, so the test counts executions independently of the broker."""

from __future__ import annotations

from typing import Any

from worker.registry import task


@task(name="ha.record", bind=True)
def record(self: Any, path: str) -> None:
    # One short O_APPEND write: lines from several processes never interleave.
    with open(path, "a") as f:
        f.write(f"{self.request.id}\n")
