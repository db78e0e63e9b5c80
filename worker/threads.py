"""The thread pool: tasks run in threads of the worker process.

Soft limit
    The monitor thread raises :class:`~worker.errors.SoftTimeLimitExceeded` in the task's
    thread with ``PyThreadState_SetAsyncExc``. CPython delivers such an exception only between
    bytecodes: a task blocked in C code (``time.sleep``, a socket read, a long regex) sees it
    only when that call returns. The prefork pool, which uses a signal, has the same limitation
    for C code that does not return on ``EINTR``; here it also applies to sleeps. The monitor
    also needs the GIL to raise it, which a busy task thread gives up only every
    ``sys.getswitchinterval()``: :meth:`ThreadPool.start` lowers it from CPython's 5 ms to
    1 ms (a little more switching between CPU-bound task threads, in exchange for limits that
    are not 5-10 ms late).

Hard limit
    A thread cannot be killed, but the programs its task started can: every process in the
    sessions the task reported (:mod:`worker.sessions`; the ``command`` task reports its
    program's) is killed, and so is any session the abandoned task starts later. The job is
    reported ``TIME_LIMIT`` at once, its thread is *abandoned* (never joined; whatever it
    returns later is discarded; it exits when its task ends) and a replacement thread takes its
    slot, so the pool keeps its concurrency. Abandoned threads still running hold memory and
    maybe locks; when more than ``max_abandoned`` of them are alive at once,
    :meth:`ThreadPool.needs_restart` returns true (and an error is logged): only restarting the
    worker process frees them. The consumer polls it every loop and restarts the worker
    gracefully (drain, then a fresh process).

``recycle()`` cannot load new code into a running process; it logs a warning and keeps going.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker import sessions
from worker.context import run_task
from worker.errors import (
    PoolError,
    Reject,
    Retry,
    SoftTimeLimitExceeded,
    TaskRevoked,
    describe,
)
from worker.lineage import Calls
from worker.pool import (
    DEFAULT_SWITCH_INTERVAL_S,
    Job,
    Outcome,
    OutcomeKind,
    RunResult,
    check_result,
    failed_outcome,
    hard_limit_error,
    limit_deadlines_s,
    rejected_outcome,
    retry_outcome,
    soft_outcome,
    start_monitor,
)
from worker.progress import ProgressBox, ProgressReport

logger = logging.getLogger(__name__)


def _async_raise(ident: int, exc: type[BaseException] | None) -> int:
    """Schedule ``exc`` in thread ``ident`` (None clears a pending one); threads affected."""
    arg = ctypes.py_object(exc) if exc is not None else None
    return int(ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), arg))


@dataclass(slots=True, eq=False)
class _Run:
    job: Job
    ident: int
    started_at: datetime
    soft_at_s: float | None
    hard_at_s: float | None
    in_task: bool = True
    soft_sent: bool = False
    abandoned: bool = False  # its outcome is no longer reported (hard limit or stop)
    over_limit: bool = False  # abandoned at the hard limit; counts toward needs_restart
    sessions: set[int] = field(default_factory=set)  # process sessions the task started
    calls: Calls = field(default_factory=Calls)  # the calls the task's code sent


class ThreadPool:
    """``concurrency`` threads; see the module docstring."""

    def __init__(
        self,
        concurrency: int,
        *,
        max_abandoned: int | None = None,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
    ) -> None:
        if concurrency < 1:
            raise PoolError(f"concurrency: must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.max_abandoned = max_abandoned if max_abandoned is not None else concurrency
        self.switch_interval = switch_interval
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._assigned: dict[str, Job] = {}  # submitted, not finished nor abandoned
        self._abandoned_alive = 0
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._monitor: threading.Thread | None = None
        self._stopping = False
        self._serial = 0
        self.progress = ProgressBox()

    # --- Pool protocol -------------------------------------------------------------------
    def needs_restart(self) -> bool:
        """More than ``max_abandoned`` abandoned (hard-limited) threads are still running."""
        return self._abandoned_alive > self.max_abandoned

    @property
    def abandoned_alive(self) -> int:
        return self._abandoned_alive

    def start(self) -> None:
        self._monitor = start_monitor(
            "thread", self._monitor, self._watch_deadlines, self.switch_interval
        )
        for _ in range(self.concurrency):
            self._add_thread()

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._stopping or len(self._assigned) >= self.concurrency:
                raise PoolError(f"thread pool: no free thread for job {job.id}")
            self._assigned[job.id] = job
        self._jobs.put(job)

    def wait(self, timeout_s: float) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            first = (
                self._outcomes.get(timeout=timeout_s)
                if timeout_s > 0
                else self._outcomes.get_nowait()
            )
        except queue.Empty:
            return outcomes
        outcomes.append(first)
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                return outcomes

    def free_slots(self) -> int:
        if self._stopping:
            return 0
        return self.concurrency - len(self._assigned)

    def recycle(self) -> None:
        logger.warning(
            "thread pool: recycle cannot reload code in this process; restart the worker "
            "(or use the prefork pool) to load new task code"
        )

    def stop(self, timeout_s: float) -> list[Job]:
        """Stop taking jobs; raise the soft limit in running tasks; return unfinished jobs.

        Busy threads cannot be killed: they are daemons and end with the process.
        """
        started: set[int] = set()
        with self._lock:
            self._stopping = True
            unfinished = list(self._assigned.values())
            self._assigned.clear()
            for run in self._runs.values():
                if run.in_task and not run.abandoned:
                    run.abandoned = True  # whatever it returns now is not reported
                    started |= run.sessions
                    _async_raise(run.ident, SoftTimeLimitExceeded)
        # Their messages go back to the queue: the programs they started must not run on.
        sessions.kill_sessions(started)
        for _ in self._threads:
            self._jobs.put(None)
        deadline_s = time.monotonic() + max(timeout_s, 0.0)
        for thread in self._threads:
            thread.join(max(deadline_s - time.monotonic(), 0.0))
        self._wake.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        return unfinished

    # --- internals ---------------------------------------------------------------------
    def _add_thread(self) -> None:
        self._serial += 1
        thread = threading.Thread(target=self._serve, name=f"pool-thread-{self._serial}")
        thread.daemon = True  # an abandoned task must not keep the process alive
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        ident = threading.get_ident()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            soft_at_s, hard_at_s = limit_deadlines_s(job, time.monotonic())
            run = _Run(
                job=job,
                ident=ident,
                started_at=datetime.now(UTC),
                soft_at_s=soft_at_s,
                hard_at_s=hard_at_s,
            )
            with self._lock:
                self._runs[job.id] = run
            if run.soft_at_s is not None or run.hard_at_s is not None:
                self._wake.set()
            kind, result, error, exc_type = self._execute(run)
            finished_at = datetime.now(UTC)
            with self._lock:
                self._runs.pop(job.id, None)
                abandoned = run.abandoned
                if run.over_limit:
                    self._abandoned_alive -= 1
                if not abandoned:
                    self._assigned.pop(job.id, None)
            if abandoned:
                logger.info("thread pool: abandoned job %s ended (%s)", job.id, kind.value)
                return  # its slot already has a replacement thread
            calls = run.calls
            self._outcomes.put(
                Outcome(
                    job.id,
                    kind,
                    result,
                    error,
                    exc_type,
                    run.started_at,
                    finished_at,
                    tuple(calls.ids),
                    calls.more,
                )
            )

    def _leave_task(self, run: _Run) -> None:
        with self._lock:
            run.in_task = False
            if run.soft_sent:
                _async_raise(run.ident, None)  # a soft limit sent too late must not fire now

    def _on_session(self, run: _Run, sid: int) -> None:
        with self._lock:
            run.sessions.add(sid)
            late = run.abandoned
        if late:  # started by a task already past its hard limit (or stopped): end it now
            sessions.kill_sessions({sid})

    def _execute(self, run: _Run) -> RunResult:
        job = run.job

        def report(state: str, meta: Any) -> None:
            self.progress.put(ProgressReport(job.id, state, meta))

        try:
            try:
                with sessions.reporting_to(lambda sid: self._on_session(run, sid)):
                    result = run_task(
                        job.task, job.request, job.task_id, job.args, job.kwargs, report, run.calls
                    )
            finally:
                self._leave_task(run)
        except SoftTimeLimitExceeded as e:
            self._leave_task(run)  # in case the exception landed inside the finally above
            return soft_outcome(e, job.soft_time_limit)
        except TaskRevoked:  # terminate: its outcome (REVOKED) was reported when it was raised
            logger.info("thread pool: revoked job %s stopped", job.id)
            return OutcomeKind.REVOKED, None, "revoked", None
        except Reject as e:
            logger.error("task %s rejected its message: %s", job.task.name, e)
            return rejected_outcome(e)
        except Retry as e:
            return retry_outcome(e)
        except BaseException as e:  # SystemExit from a task must not end a pool thread
            logger.error(
                "task %s raised %s",
                job.task.name,
                describe(e),
                exc_info=True,
                extra={"task": job.task.name, "task_id": job.task_id},
            )
            return failed_outcome(e)
        return check_result(result)

    def terminate(self, job_id: str) -> bool:
        """Raise :class:`~worker.errors.TaskRevoked` in the thread running ``job_id`` and
        abandon it like a hard limit (its programs killed, its slot replaced); the outcome is
        REVOKED at once."""
        with self._lock:
            run = self._runs.get(job_id)
            if run is None or run.abandoned or not run.in_task:
                return False
            outcome = self._abandon_locked(run, revoked=True)
            _async_raise(run.ident, TaskRevoked)
            started = set(run.sessions)
        sessions.kill_sessions(started)
        self._add_thread()  # before the outcome: its slot is usable once reported
        self._outcomes.put(outcome)
        return True

    def _abandon_locked(self, run: _Run, *, revoked: bool = False) -> Outcome:
        run.abandoned = run.over_limit = True
        run.hard_at_s = None
        self._assigned.pop(run.job.id, None)
        self._abandoned_alive += 1
        outcome = Outcome(
            job_id=run.job.id,
            kind=OutcomeKind.REVOKED if revoked else OutcomeKind.TIME_LIMIT,
            error="revoked: thread abandoned"
            if revoked
            else hard_limit_error(run.job.time_limit, "thread abandoned"),
            exc_type=None if revoked else "worker.errors.TimeLimitExceeded",
            started_at=run.started_at,
            finished_at=datetime.now(UTC),
        )
        if revoked:
            return outcome
        logger.warning(
            "thread pool: job %s (%s) passed its hard time limit; thread abandoned "
            "(%d abandoned thread(s) still running)",
            run.job.id,
            run.job.task.name,
            self._abandoned_alive,
        )
        if self.needs_restart():
            logger.error(
                "thread pool: %d abandoned threads still running (max %d); the worker "
                "process needs a restart",
                self._abandoned_alive,
                self.max_abandoned,
            )
        return outcome

    def _watch_deadlines(self) -> None:
        while not self._stopping:
            nearest: float | None = None
            abandoned: list[Outcome] = []
            started: set[int] = set()
            now = time.monotonic()
            with self._lock:
                for run in list(self._runs.values()):
                    if run.abandoned or not run.in_task:
                        continue
                    if run.hard_at_s is not None and now >= run.hard_at_s:
                        abandoned.append(self._abandon_locked(run))
                        started |= run.sessions
                        continue
                    if run.soft_at_s is not None and now >= run.soft_at_s:
                        run.soft_at_s = None
                        run.soft_sent = True
                        _async_raise(run.ident, SoftTimeLimitExceeded)
                    for at in (run.soft_at_s, run.hard_at_s):
                        if at is not None and (nearest is None or at < nearest):
                            nearest = at
            # Outside the lock: it scans /proc. Killed before the outcome is reported.
            sessions.kill_sessions(started)
            for outcome in abandoned:
                self._add_thread()  # before the outcome: its slot is usable once reported
                self._outcomes.put(outcome)
            timeout = None if nearest is None else max(nearest - time.monotonic(), 0.0)
            self._wake.wait(timeout)
            self._wake.clear()
