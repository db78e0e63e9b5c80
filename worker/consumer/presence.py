"""The worker's heartbeat record (``beat workers``): who this worker is and what it runs now.

Built by the lease keeper at each heartbeat from the fixed :class:`WorkerIdentity` and the
in-flight table, so the record's task list is at most one heartbeat interval old.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

from taskqueue.heartbeats import RunningTask, WorkerRecord
from worker.consumer.in_flight import InFlightTable


def installed_version() -> str:
    """The version of the installed distribution (beat, worker and taskqueue ship together)."""
    try:
        return metadata.version("beat")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """What does not change while the worker runs."""

    pool: str
    concurrency: int
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    version: str = field(default_factory=installed_version)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(self, name: str, queues: Sequence[str], in_flight: InFlightTable) -> WorkerRecord:
        tasks = tuple(
            RunningTask(entry.message.id, entry.message.task, entry.started_at)
            for _, entry in in_flight.snapshot()
        )
        return WorkerRecord(
            name=name,
            host=self.host,
            pid=self.pid,
            version=self.version,
            queues=tuple(queues),
            pool=self.pool,
            concurrency=self.concurrency,
            started_at=self.started_at,
            tasks=tasks,
        )
