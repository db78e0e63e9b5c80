"""What the prefork parent and its children say to each other, typed.

Every message is one of the types below, pickled over the child's
:mod:`multiprocessing.connection` socket: the parent sends :class:`ChildInit` once, then a
:class:`RunJob` per job and :data:`RETIRE` to end the child; the child answers
:class:`Ready` (or :class:`BootError`), then per job any number of :class:`SessionStarted`
and :class:`Progress`, and one :class:`Done`.

The two that cross once per task, :class:`RunJob` and :class:`Done`, cross as plain tuples of
plain values (:func:`send_job`, :func:`send_done`; rebuilt by :func:`job_from` and
:func:`done_from`): C pickles those without looking up a class or calling Python, which made
pickling a no-op task's job and outcome several times cheaper (bench/profile_worker.py).
"""

from __future__ import annotations

import operator
import pickle
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from worker.context import Request

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from taskqueue.routes import Route
    from worker.commands import CommandPolicy
    from worker.pool import Job


@dataclass(frozen=True, slots=True)
class ChildInit:
    """The parent's start-up state, which a fresh interpreter does not have."""

    sys_path: list[str]
    modules: list[str]  # the task modules to import
    log_level: int
    log_formatter: bytes | None  # the parent's formatter, pickled (None: a plain one)
    command_policy: CommandPolicy
    # The parent's calling-API settings (worker.producer.configured): broker URL and routes.
    producer: tuple[str | None, list[Route] | None] = (None, None)
    # Whether Done carries the peak RSS (max_memory_per_child is set): reading it costs
    # several syscalls per job, for nothing when no limit looks at it.
    report_memory: bool = False


class RunJob(NamedTuple):
    """Parent -> child: run one job. A named tuple, as is :class:`Done`: one of each crosses the
    pipe per task, and a tuple pickles and unpickles in C (a dataclass goes through Python
    ``__getstate__``/``__setstate__``)."""

    job_id: str
    task: str  # a registered task's name: a job crosses by name, never by code
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    soft_limit_s: float | None  # None: no soft limit (or one the hard limit comes before)
    task_id: str
    request: Request | None = None  # self.request of a bound task

    @property
    def soft_time_limit(self) -> timedelta | None:
        """The soft limit as the child's code uses it (seconds only on the pipe)."""
        return None if self.soft_limit_s is None else timedelta(seconds=self.soft_limit_s)


# Parent -> child: exit after the current job.
RETIRE = None


@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class BootError:
    """The task modules failed to import."""

    text: str


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The running task started a process session (see :mod:`worker.sessions`)."""

    sid: int


@dataclass(frozen=True, slots=True)
class Progress:
    """The running task called ``self.update_state`` (the parent queues it for the consumer:
    the child has no broker connection)."""

    job_id: str
    state: str
    meta: Any


class Done(NamedTuple):
    """Child -> parent: the job's outcome (a named tuple: see :class:`RunJob`)."""

    job_id: str
    kind: str  # an OutcomeKind value
    result: Any
    error: str | None
    exc_type: str | None
    started_ts: float
    finished_ts: float
    peak_rss_kib: int  # 0 unless ChildInit.report_memory
    # The ids of the calls the task's code sent (worker.lineage.Calls), and how many more.
    children: tuple[str, ...]
    more_children: int


ChildMessage = Ready | BootError | SessionStarted | Progress | Done


# A Request's fields in declaration order (Request(*values) rebuilds it).
_request_values = operator.attrgetter(*(f.name for f in fields(Request)))


def send_job(conn: Connection, job: Job, soft_limit_s: float | None) -> None:
    """Send ``job`` as a :class:`RunJob`'s fields in a plain tuple, its request as a tuple of
    its fields (``soft_limit_s``: see :attr:`RunJob.soft_limit_s`)."""
    request = None if job.request is None else _request_values(job.request)
    message = (
        job.id, job.task.name, tuple(job.args), dict(job.kwargs), soft_limit_s, job.task_id,
        request,
    )  # fmt: skip
    conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))


def job_from(message: Any) -> RunJob | None:
    """The job :func:`send_job` sent (None: :data:`RETIRE`)."""
    if message is None:
        return None
    job_id, task, args, kwargs, soft_limit_s, task_id, request = message
    return RunJob(
        job_id,
        task,
        args,
        kwargs,
        soft_limit_s,
        task_id,
        None if request is None else Request(*request),
    )


def send_done(conn: Connection, done: Done) -> None:
    """Send ``done`` as a plain tuple (PicklingError/TypeError if its result cannot be)."""
    conn.send_bytes(pickle.dumps(tuple(done), pickle.HIGHEST_PROTOCOL))


def done_from(message: Any) -> Done | None:
    """The outcome in ``message`` if it is one :func:`send_done` sent, else None."""
    return Done(*message) if type(message) is tuple else None
