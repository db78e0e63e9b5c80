"""Progress a running task reports (``self.update_state``), on its way to the broker.

A pool collects the reports of its runs in its :class:`ProgressBox` (the prefork parent when
a child's ``Progress`` message arrives, a pool thread when the task calls ``update_state``);
the consumer drains the box on every loop turn, *before* it settles finished runs, so a late
report never overwrites a final state: reports of runs no longer in flight are dropped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskqueue.broker import TaskState, TaskStatus

if TYPE_CHECKING:
    from taskqueue.broker import Broker
    from worker.consumer.in_flight import InFlightTable

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProgressReport:
    job_id: str
    state: str
    meta: Any


class ProgressBox:
    """Reports not yet recorded; thread-safe. Only the newest report of a job is kept."""

    def __init__(self) -> None:
        self._reports: dict[str, ProgressReport] = {}
        self._lock = threading.Lock()

    def put(self, report: ProgressReport) -> None:
        with self._lock:
            self._reports.pop(report.job_id, None)  # newest last
            self._reports[report.job_id] = report

    def drain(self) -> list[ProgressReport]:
        with self._lock:
            reports = list(self._reports.values())
            self._reports.clear()
        return reports


def record_progress(box: ProgressBox, broker: Broker, in_flight: InFlightTable) -> int:
    """Write the box's reports of runs still in flight as statuses; how many were written.

    Progress is advisory: a broker error here is logged and the reports are dropped (the
    settle that follows reports the outage)."""
    written = 0
    for report in box.drain():
        entry = in_flight.get(report.job_id)
        if entry is None or entry.lost:
            continue
        message = entry.message
        status = TaskStatus(
            id=message.id,
            task=message.task,
            state=TaskState(report.state),
            attempts=message.attempt + 1,
            result=report.meta,
            started_at=entry.started_at,
            deliveries=entry.delivery.deliveries,
        )
        try:
            broker.set_status(status)
        except Exception as e:
            logger.warning("task %s[%s]: progress not recorded: %s", message.task, message.id, e)
            continue
        written += 1
    return written
