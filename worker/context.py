"""Inside a task: ``@task(bind=True)`` gets a :class:`BoundTask` first, with ``self.request``
(what this run is), ``self.update_state`` (progress, visible at once to ``TaskResult`` and
``beat status``) and ``self.retry`` (run again later, counted against ``max_retries``).

The pool builds one :class:`BoundTask` per run and hands it a ``report`` function: in a prefork
child it sends a typed message to the parent (the child has no broker connection), in the
threads pool it queues the report for the consumer directly; either way the consumer records
it (:mod:`worker.progress`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from worker import lineage
from worker.errors import Retry, RetryRequest, describe, exception_name

if TYPE_CHECKING:
    from taskqueue.message import Message
    from worker.registry import Task

# (state, meta): how a run reports progress to its pool.
Report = Callable[[str, Any], None]

# The states a task may set itself: the others are the worker's to record.
USER_STATES = frozenset({"PROGRESS"})


@dataclass(frozen=True, slots=True)
class Request:
    """What one run of a task is (``self.request``). ``retries`` is the attempt (0 for the
    first run), ``deliveries`` the claims of this attempt (more than 1: a worker died under
    it). ``entry``/``scheduled_for`` are set for a beat fire. ``parent_id`` is the task that
    sent this one (None for a call from application code or a fire), ``root_id`` the top of
    its tree (its own id when it has no parent)."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    deliveries: int = 0
    eta: datetime | None = None
    expires: datetime | None = None
    entry: str | None = None
    scheduled_for: datetime | None = None
    parent_id: str | None = None
    root_id: str | None = None

    @classmethod
    def of(cls, message: Message, deliveries: int) -> Request:
        return cls(
            id=message.id,
            task=message.task,
            args=tuple(message.args),
            kwargs=dict(message.kwargs),
            retries=message.attempt,
            deliveries=deliveries,
            eta=message.eta,
            expires=message.expires,
            entry=message.headers.entry,
            scheduled_for=message.headers.scheduled_for,
            parent_id=message.headers.parent_id,
            root_id=message.headers.root_id or message.id,
        )


class BoundTask:
    """``self`` of a bound task: the task's attributes, plus this run's request."""

    def __init__(self, task: Task[..., Any], request: Request, report: Report) -> None:
        self._task = task
        self.request = request
        self._report = report

    def __getattr__(self, name: str) -> Any:
        # name, max_retries, delay, apply_async...: the task's own.
        return getattr(self._task, name)

    def update_state(self, state: str = "PROGRESS", meta: Any = None) -> None:
        """Record ``state`` (``PROGRESS``) with ``meta`` (JSON) for this run now."""
        if state not in USER_STATES:
            raise ValueError(
                f"task {self._task.name!r}: update_state: state {state!r} is not one a task "
                f"may set (allowed: {', '.join(sorted(USER_STATES))})"
            )
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"task {self._task.name!r}: update_state: meta is not JSON: {e}"
            ) from None
        self._report(state, meta)

    def retry(
        self,
        *,
        countdown: float | int | timedelta | str | None = None,
        eta: datetime | None = None,
        exc: BaseException | None = None,
        max_retries: int | None = None,
    ) -> Retry:
        """The exception to raise to run this task again: after ``countdown`` (seconds, a
        timedelta or ``"30s"``), at ``eta`` (aware), or after the task's backoff; counted
        against ``max_retries`` (this call's, else the message's or the task's)."""
        from taskqueue.durations import parse_duration
        from taskqueue.message import require_aware

        where = f"task {self._task.name!r}: retry"
        countdown_s = None
        if countdown is not None:
            countdown_s = parse_duration(countdown, f"{where}: countdown").total_seconds()
        if eta is not None:
            require_aware(eta, f"{where}: eta")
        if max_retries is not None and (isinstance(max_retries, bool) or max_retries < 0):
            raise ValueError(f"{where}: max_retries must be a non-negative integer")
        if exc is not None:
            error, exc_type = describe(exc), exception_name(exc)
        else:
            error, exc_type = "Retry: retry requested", "worker.errors.Retry"
        return Retry(RetryRequest(error, exc_type, countdown_s, eta, max_retries))


def run_task(
    task: Task[..., Any],
    request: Request | None,
    task_id: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    report: Report,
    calls: lineage.Calls | None = None,
) -> Any:
    """Call the task's function: a bound task gets its :class:`BoundTask` first. Calls it
    makes name it as their parent (:mod:`worker.lineage`), and their ids go to ``calls``
    (the pool's, read after the run however it ended)."""
    root_id = None if request is None else request.root_id
    with lineage.running(lineage.of(task_id, root_id, calls)):
        if not task.bind:
            return task.fn(*args, **kwargs)
        req = request or Request(id=task_id, task=task.name, args=args, kwargs=kwargs)
        return task.fn(BoundTask(task, req, report), *args, **kwargs)
