"""``TaskResult``: what application code knows of one task id, and waiting for its result.

Reads the broker's task status (:class:`~taskqueue.broker.TaskStates`). ``get`` waits on the
broker's notification (Redis: a BLPOP on the task's done list, pushed by the settle step that
records the final state; SQLite: a poll every ``interval``), re-reading the status after each
wake-up, so a task that ended before the wait began returns at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from taskqueue.broker import Revocations
from taskqueue.records import DEFAULT_RESULT_TTL, FINAL_STATES, Revocation, TaskState, TaskStatus
from worker.errors import ResultTimeout, TaskFailed
from worker.producer import PRODUCER

if TYPE_CHECKING:
    from taskqueue.broker import TaskStates

__all__ = ["AsyncResult", "GroupResult", "TaskResult"]

PENDING = "PENDING"  # nothing known of the id (not sent, or its status expired), as in Celery
DEFAULT_INTERVAL_S = 0.1  # SQLite's poll interval (Redis blocks instead)
# The worker records a failure as "<ExceptionName>: <message>".
_TYPED = re.compile(r"(?P<type>[A-Za-z_][\w.]*): (?P<message>.*)", re.DOTALL)


class TaskResult:
    """The task ``id`` on ``broker`` (default: the process's, see :func:`worker.configure`)."""

    def __init__(self, id: str, broker: TaskStates | None = None) -> None:
        self.id = id
        self._broker = broker

    def __repr__(self) -> str:
        return f"<TaskResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def broker(self) -> TaskStates:
        if self._broker is None:
            return PRODUCER.get()
        return self._broker

    def status(self) -> TaskStatus | None:
        """The broker's full record of the task (None: nothing known)."""
        return self.broker.get_status(self.id)

    @property
    def state(self) -> str:
        """``QUEUED``, ``STARTED``, ``PROGRESS``, ``RETRY``, ``SUCCESS``, ``FAILURE``,
        ``EXPIRED``, ``DEAD``, ``REVOKED``, or ``PENDING`` when nothing is known of the id."""
        status = self.status()
        return PENDING if status is None else status.state.value

    def ready(self) -> bool:
        status = self.status()
        return status is not None and status.state in FINAL_STATES

    def successful(self) -> bool:
        status = self.status()
        return status is not None and status.state is TaskState.SUCCESS

    def failed(self) -> bool:
        """True once the task ended without a result (FAILURE, DEAD or EXPIRED)."""
        status = self.status()
        return status is not None and _is_failure(status)

    @property
    def info(self) -> Any:
        """The result (SUCCESS), the :class:`TaskFailed` (a failure), the progress meta
        (PROGRESS), else None."""
        status = self.status()
        if status is None:
            return None
        if status.state in (TaskState.SUCCESS, TaskState.PROGRESS):
            return status.result
        return task_failed(status) if _is_failure(status) else None

    result = info

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = DEFAULT_INTERVAL_S,
    ) -> Any:
        """Wait for the task to finish; its result.

        A failure raises :class:`TaskFailed` (``propagate=False``: returns it). After
        ``timeout`` seconds raises :class:`ResultTimeout` (a TimeoutError). ``interval`` is
        the poll interval on SQLite; Redis blocks on a notification instead of polling.
        """
        status = self._wait(timeout, interval)
        if status.state is TaskState.SUCCESS:
            return status.result
        failure = task_failed(status)
        if propagate:
            raise failure
        return failure

    def _wait(self, timeout: float | None, interval: float) -> TaskStatus:
        broker = self.broker
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = timedelta(seconds=max(interval, 0.001))
        status = broker.wait_done(self.id, timedelta(0), poll)  # a read: it may be done
        while status is None or status.state not in FINAL_STATES:
            remaining_s = 3600.0 if deadline is None else deadline - time.monotonic()
            if remaining_s <= 0:
                status = broker.get_status(self.id)  # the full read: QUEUED if still queued
                if status is not None and status.state in FINAL_STATES:
                    return status
                state = PENDING if status is None else status.state.value
                raise ResultTimeout(self.id, timeout or 0.0, state)
            status = broker.wait_done(self.id, timedelta(seconds=remaining_s), poll)
        return status

    def forget(self) -> None:
        """Delete the task's status and result from the broker."""
        self.broker.forget(self.id)

    def revoke(self, terminate: bool = False) -> Revocation:
        """Revoke the task (as ``beat revoke``): if queued or delayed it is removed and
        recorded REVOKED; if running, ``terminate=True`` stops it (else it runs to its end).
        The id never runs later, even from a redelivered copy; kept as long as results."""
        broker = self.broker
        if not isinstance(broker, Revocations):
            raise TypeError(f"{broker!r} cannot revoke tasks (no Revocations role)")
        return broker.revoke(self.id, terminate=terminate, ttl=DEFAULT_RESULT_TTL)


AsyncResult = TaskResult


class GroupResult:
    """The results of a group's members, in the order they were given."""

    def __init__(self, id: str, results: list[TaskResult]) -> None:
        self.id = id
        self.results = results

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} {[r.id for r in self.results]}>"

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> TaskResult:
        return self.results[index]

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        return any(r.failed() for r in self.results)

    def completed_count(self) -> int:
        return sum(1 for r in self.results if r.successful())

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = DEFAULT_INTERVAL_S,
    ) -> list[Any]:
        """Every member's result in order; ``timeout`` bounds the whole wait. The first
        failure (in order) raises unless ``propagate=False`` (it is then in the list)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = []
        for r in self.results:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            out.append(r.get(timeout=left, propagate=propagate, interval=interval))
        return out


def _is_failure(status: TaskStatus) -> bool:
    return status.state in FINAL_STATES and status.state is not TaskState.SUCCESS


def task_failed(status: TaskStatus) -> TaskFailed:
    """The :class:`TaskFailed` of a final status that is not SUCCESS."""
    text = status.error or status.state.value.lower()
    typed = _TYPED.fullmatch(text)
    state, tb = status.state.value, status.traceback
    if typed is None:
        return TaskFailed(status.id, state, state.title(), text, tb)
    return TaskFailed(status.id, state, typed["type"], typed["message"], tb)
