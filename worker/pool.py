"""What every pool offers the consumer: jobs in, outcomes out, time limits enforced.

Two implementations: :mod:`worker.prefork` (child processes; the default) and
:mod:`worker.threads` (threads in the worker process). Both are driven by one thread, the
consumer's: ``submit`` a :class:`Job` when ``free_slots() > 0``, collect :class:`Outcome` objects
with ``wait``. Limits are timedeltas, measured from the moment the pool hands the job to a
free process or thread.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from taskqueue.status_details import bounded_traceback
from worker.errors import PoolError, Reject, Retry, SoftTimeLimitExceeded, describe, exception_name

if TYPE_CHECKING:
    from taskqueue.message import Message
    from worker.context import Request
    from worker.progress import ProgressBox
    from worker.registry import Task


# Not frozen: one per task, and a frozen __init__ costs several times a plain one.
@dataclass(slots=True)
class Job:
    """One run of one task. Limits: None for no limit."""

    id: str
    task: Task[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    soft_time_limit: timedelta | None = None
    time_limit: timedelta | None = None
    # The message id, for the pool's own log lines about this run (``task_id`` field).
    task_id: str = ""
    # What a bound task sees as ``self.request`` (None: built from the id and arguments).
    request: Request | None = None


class OutcomeKind(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"  # the task raised (error/exc_type say what)
    SOFT_TIME_LIMIT = "soft_time_limit"  # SoftTimeLimitExceeded escaped the task
    TIME_LIMIT = "time_limit"  # hard limit: the process was killed (or the thread abandoned)
    LOST = "lost"  # the process running the task died for another reason
    REJECTED = "rejected"  # the task raised Reject: dead-lettered with the reason, no retry
    RETRY = "retry"  # the task raised self.retry(): result is the RetryRequest
    REVOKED = "revoked"  # revoked with terminate: its process killed (or its thread abandoned)


# Not frozen: one per task, and a frozen __init__ costs several times a plain one.
@dataclass(slots=True)
class Outcome:
    """How a job ended. ``exc_type`` is the exception's ``module.QualName`` for failures;
    ``result`` as in :data:`RunResult` (for FAILURE: the traceback text, or None)."""

    job_id: str
    kind: OutcomeKind
    result: Any = None
    error: str | None = None
    exc_type: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The ids of the calls the task's code sent (the first MAX_CHILDREN), and how many more.
    children: tuple[str, ...] = ()
    more_children: int = 0


class Pool(Protocol):
    """The consumer's view of a pool. All methods are called from one (long-lived) thread."""

    # Progress reports of running tasks (``update_state``), drained by the consumer.
    progress: ProgressBox
    # How many jobs it runs at once.
    concurrency: int

    def start(self) -> None:
        """Start the processes/threads; returns when the pool can take jobs."""

    def submit(self, job: Job) -> None:
        """Start ``job`` on a free slot (:class:`PoolError` if there is none)."""

    def wait(self, timeout_s: float) -> list[Outcome]:
        """Outcomes finished since the last call; blocks up to ``timeout_s`` for the first.

        ``timeout_s=0.0`` never blocks.
        """

    def free_slots(self) -> int:
        """How many jobs could be submitted right now."""

    def recycle(self) -> None:
        """Replace the workers after their current job (new code loaded); nothing is dropped."""

    def stop(self, timeout_s: float) -> list[Job]:
        """Stop everything; returns the jobs that did not finish (the caller releases them).

        Idle processes get ``timeout_s`` seconds to exit before they are killed; busy ones
        are killed.
        """

    def needs_restart(self) -> bool:
        """True when only a restart of the worker process can restore health (threads pool)."""

    def terminate(self, job_id: str) -> bool:
        """Stop running job ``job_id`` now (revoked): its outcome comes back REVOKED from
        ``wait``. False if it is not running here (finished, or never submitted)."""


def resolve_limits(
    task: Task[..., Any], message: Message
) -> tuple[timedelta | None, timedelta | None]:
    """(soft, hard) limits: the message's options override the task's defaults."""
    soft = message.soft_time_limit if message.soft_time_limit is not None else task.soft_time_limit
    hard = message.time_limit if message.time_limit is not None else task.time_limit
    return soft, hard


def limit_deadlines_s(job: Job, now_s: float) -> tuple[float | None, float | None]:
    """(soft, hard) deadlines of ``job`` started at ``now_s`` (``time.monotonic()`` seconds).

    A soft limit at or after the hard one could never be acted on: its deadline is None.
    """
    soft, hard = job.soft_time_limit, job.time_limit
    hard_at_s = None if hard is None else now_s + hard.total_seconds()
    if soft is None or (hard is not None and soft >= hard):
        return None, hard_at_s
    return now_s + soft.total_seconds(), hard_at_s


# The monitor thread of either pool must win the GIL back from busy threads to act on a deadline;
# CPython hands it over only every ``sys.getswitchinterval()`` (5 ms by default).
DEFAULT_SWITCH_INTERVAL_S = 0.001


def start_monitor(
    pool: str,
    running: threading.Thread | None,
    watch: Callable[[], None],
    switch_interval: float | None,
) -> threading.Thread:
    """Start a pool's deadline monitor thread running ``watch``; a second start is an error.

    Lowers the interpreter's GIL switch interval to ``switch_interval`` seconds first (never
    raises it), so the monitor gets the GIL back soon after a deadline while tasks hold it.
    """
    if running is not None:
        raise PoolError(f"{pool} pool: already started")
    if switch_interval is not None and sys.getswitchinterval() > switch_interval:
        sys.setswitchinterval(switch_interval)
    monitor = threading.Thread(target=watch, name="pool-monitor", daemon=True)
    monitor.start()
    return monitor


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# (kind, result, error, exc_type). ``result`` is the task's result (SUCCESS), the
# RetryRequest (RETRY) or the remote traceback text (FAILURE from an exception, else None).
RunResult = tuple[OutcomeKind, Any, str | None, str | None]


def failed_outcome(exc: BaseException) -> RunResult:
    """The task raised ``exc``: FAILURE with its traceback text, already bounded (it crosses
    the prefork pipe and goes to the status store)."""
    text = "".join(traceback.format_exception(exc))
    return OutcomeKind.FAILURE, bounded_traceback(text), describe(exc), exception_name(exc)


def check_result(result: Any) -> RunResult:
    """SUCCESS, or FAILURE when the result could not be stored as JSON."""
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        return (
            OutcomeKind.FAILURE,
            None,
            f"result is not JSON serialisable: {type(result).__name__}: {e}",
            "builtins.TypeError",
        )
    return OutcomeKind.SUCCESS, result, None, None


def soft_limit_error(soft: timedelta | None) -> str:
    if soft is None:
        return "soft time limit"
    return f"soft time limit ({soft.total_seconds():g}s) exceeded"


def hard_limit_error(hard: timedelta | None, how: str) -> str:
    return (
        f"hard time limit ({hard.total_seconds():g}s) exceeded; {how}" if hard is not None else how
    )


def rejected_outcome(exc: Reject) -> RunResult:
    return OutcomeKind.REJECTED, None, str(exc) or "rejected", exception_name(exc)


def soft_outcome(exc: SoftTimeLimitExceeded, soft: timedelta | None) -> RunResult:
    text = str(exc) or soft_limit_error(soft)
    return OutcomeKind.SOFT_TIME_LIMIT, None, text, exception_name(exc)


def retry_outcome(exc: Retry) -> RunResult:
    """``raise self.retry(...)``: the consumer decides, by the one retry rule."""
    return OutcomeKind.RETRY, exc.request, exc.request.error, exc.request.exc_type
