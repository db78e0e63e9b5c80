"""The worker's exception tree.

``SoftTimeLimitExceeded`` derives from :class:`BaseException`, not :class:`Exception`, on
purpose: task code full of ``except Exception:`` (retry loops, "log and carry on" handlers)
must not swallow the soft limit by accident. A task that wants to clean up catches it by name
and re-raises::

    try:
        work()
    except SoftTimeLimitExceeded:
        cleanup()
        raise
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class WorkerError(Exception):
    """Root of the worker's own errors."""


class SoftTimeLimitExceeded(BaseException):
    """Raised inside a task when its soft time limit is reached (catchable for cleanup).

    A BaseException so that a plain ``except Exception`` does not swallow it.
    """


class TaskRevoked(BaseException):
    """Raised inside a threads-pool task revoked with terminate (``beat revoke --terminate``):
    a BaseException, like the soft limit, so a plain ``except Exception`` does not swallow it.
    In the prefork pool the task's process is killed instead."""


class TimeLimitExceeded(WorkerError):
    """The recorded failure of a task whose hard time limit was reached (its process killed).

    Never raised inside a prefork task (the process is simply killed); it names the outcome in
    statuses, logs and ``autoretry_for``.
    """


class Reject(WorkerError):
    """Raised by a task that refuses its message outright (e.g. a ``command`` naming a program
    the worker does not allow): the message is dead-lettered with this reason, never retried."""


class WorkerLost(WorkerError):
    """The pool process running a task died (killed by a signal, crashed, ran out of memory)."""


class UnknownTask(WorkerError, KeyError):
    """No task is registered under the requested name."""

    def __str__(self) -> str:
        # KeyError's str() would quote the whole message again.
        return str(self.args[0]) if self.args else "unknown task"


class DuplicateTask(WorkerError):
    """Two different functions were registered under one task name."""


class TaskModuleImportError(WorkerError, ImportError):
    """A task module named by the operator (``-A``/``imports``) could not be imported."""


class PoolError(WorkerError):
    """The pool could not start or was used wrongly (e.g. a job submitted with no free slot)."""


class TaskDefinitionError(WorkerError, ValueError):
    """A ``@task`` option is invalid (the message names the task and the option)."""


class TaskFailed(WorkerError):
    """A task that ended without a result (``TaskResult.get``): failed, dead-lettered or
    expired. ``type`` is the remote exception's name as recorded (``ValueError``), ``message``
    its text, ``traceback`` the remote traceback text when the worker stored one (a task that
    raised; its last 8 KiB), else None."""

    def __init__(
        self, task_id: str, state: str, type: str, message: str, traceback: str | None = None
    ) -> None:
        super().__init__(f"task {task_id} {state}: {type}: {message}")
        self.task_id = task_id
        self.state = state
        self.type = type
        self.message = message
        self.traceback = traceback


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """What ``raise self.retry(...)`` asks for; crosses from the pool process to the consumer.
    ``countdown_s`` and ``eta`` None: the task's backoff decides when."""

    error: str
    exc_type: str
    countdown_s: float | None = None
    eta: datetime | None = None
    max_retries: int | None = None


class Retry(WorkerError):
    """Raised by ``raise self.retry(...)`` in a bound task: run it again later, counted
    against ``max_retries`` (see :mod:`worker.consumer.outcomes`)."""

    def __init__(self, request: RetryRequest) -> None:
        super().__init__(request.error)
        self.request = request


class ResultTimeout(WorkerError, TimeoutError):
    """``TaskResult.get`` waited ``timeout`` seconds and the task had not finished."""

    def __init__(self, task_id: str, timeout_s: float, state: str) -> None:
        super().__init__(f"task {task_id}: no result after {timeout_s:g}s (state {state})")
        self.task_id = task_id
        self.state = state


def exception_name(exc: BaseException) -> str:
    """``module.QualName`` of an exception (``builtins.KeyError`` for builtins)."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(exc: BaseException) -> str:
    """``Type: message`` (or just ``Type`` when the message is empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
