"""The parent side of the prefork pool: children's states, jobs and deadlines (see
:mod:`worker.prefork`)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import select
import signal
import subprocess
import threading
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from worker import sessions
from worker.errors import PoolError
from worker.pool import (
    DEFAULT_SWITCH_INTERVAL_S,
    Job,
    Outcome,
    OutcomeKind,
    limit_deadlines_s,
    start_monitor,
    utc_from_timestamp,
)
from worker.prefork.children import (
    Child,
    ChildState,
    exit_outcome,
    exit_text,
    kill_group,
    send_quietly,
)
from worker.prefork.protocol import (
    RETIRE,
    BootError,
    ChildMessage,
    Done,
    Progress,
    Ready,
    SessionStarted,
    done_from,
    send_job,
)
from worker.prefork.spawn import child_init, spawn
from worker.progress import ProgressBox, ProgressReport

logger = logging.getLogger(__name__)

DEFAULT_BOOT_TIMEOUT_S = 60.0
# Consecutive children dying before they are ready: the task modules cannot load; give up.
_MAX_BOOT_FAILURES = 5
_REAP_TIMEOUT_S = 5.0


class PreforkPool:
    """``concurrency`` child processes; see the module docstring."""

    def __init__(
        self,
        concurrency: int,
        *,
        modules: Sequence[str],
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        boot_timeout: float = DEFAULT_BOOT_TIMEOUT_S,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
    ) -> None:
        if concurrency < 1:
            raise PoolError(f"concurrency: must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.modules = list(modules)
        self.max_tasks_per_child = max_tasks_per_child
        self.max_memory_per_child = max_memory_per_child
        self.boot_timeout = boot_timeout
        self.switch_interval = switch_interval
        self._children: list[Child] = []
        self._lock = threading.Lock()  # children's states, jobs and deadlines
        self._pending: list[Outcome] = []
        self._wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self._stopping = False
        self._stopped = False
        self._boot_failures = 0
        self._last_boot_error: str | None = None
        # A child exited or was retired: start a successor, after the outcomes at hand are
        # returned (starting an interpreter takes milliseconds the consumer should not wait).
        self._short = False
        self._init = child_init(self.modules, report_memory=self.max_memory_per_child is not None)
        self.progress = ProgressBox()
        # One poll object over the children's sockets, rebuilt when they change (the
        # consumer polls several times per task: multiprocessing's wait() builds a selector
        # each time).
        self._poller = select.poll()
        self._polled: set[int] = set()

    # --- Pool protocol -------------------------------------------------------------------
    def needs_restart(self) -> bool:
        return False

    def start(self) -> None:
        """Start the children and the monitor; returns once every child is ready."""
        self._monitor = start_monitor(
            "prefork", self._monitor, self._watch_deadlines, self.switch_interval
        )
        try:
            self._ensure_capacity()
            deadline = time.monotonic() + self.boot_timeout
            while self._count(ChildState.BOOTING) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolError(
                        f"prefork pool: children not ready after {self.boot_timeout:g}s "
                        f"(importing {self.modules})"
                    )
                self._pending.extend(self._pump(remaining, until_any=True))
        except BaseException:
            self.stop(0.0)  # no child outlives a failed start
            raise
        logger.debug("prefork pool: %d children ready", self.concurrency)

    def submit(self, job: Job) -> None:
        with self._lock:
            child = next((c for c in self._children if c.state is ChildState.IDLE), None)
            if child is None or self._stopping:
                raise PoolError(f"prefork pool: no free process for job {job.id}")
            now_s = time.monotonic()
            child.state = ChildState.BUSY
            child.job = job
            child.started_at = datetime.now(UTC)
            child.soft_at_s, child.hard_at_s = limit_deadlines_s(job, now_s)
            soft = job.soft_time_limit if child.soft_at_s is not None else None
            try:
                send_job(child.conn, job, None if soft is None else soft.total_seconds())
            except (OSError, ValueError, pickle.PicklingError) as e:
                # A dead child shows up as end-of-file in wait(), which reports the job LOST.
                logger.warning(
                    "prefork pool: could not hand job %s to %d: %s", job.id, child.pid, e
                )
        if child.soft_at_s is not None or child.hard_at_s is not None:
            self._wake.set()

    def wait(self, timeout_s: float) -> list[Outcome]:
        outcomes, self._pending = self._pending, []
        if outcomes:
            timeout_s = 0.0
        outcomes.extend(self._pump(timeout_s))
        return outcomes

    def free_slots(self) -> int:
        if self._stopping:
            return 0
        return self._count(ChildState.IDLE)

    def recycle(self) -> None:
        """Retire every child after its current job; replacements import the code anew."""
        with self._lock:
            for child in self._children:
                if child.state is ChildState.IDLE:
                    self._retire_locked(child, "recycle")
                elif child.state is ChildState.BUSY:
                    child.retire = True
                elif child.state is ChildState.BOOTING:
                    # Already importing; it may have read old files, so retire it when ready.
                    child.retire = True
        self._ensure_capacity()
        logger.info("prefork pool: recycling %d process(es)", self.concurrency)

    def stop(self, timeout_s: float) -> list[Job]:
        """Kill busy children (their jobs are returned), let idle ones exit, stop the monitor."""
        with self._lock:
            self._stopping = True
            busy = [(c.pid, set(c.sessions)) for c in self._children if c.job is not None]
            unfinished = [c.job for c in self._children if c.job is not None]
            for child in self._children:
                if child.job is None and child.state is not ChildState.EXITING:
                    child.state = ChildState.EXITING
                    send_quietly(child.conn, RETIRE)
            children = list(self._children)
            self._children.clear()
        # Busy ones are killed with what their jobs started, outside the lock (/proc scans).
        for pid, started in busy:
            sessions.kill_process_tree(pid, started)
        deadline_s = time.monotonic() + max(timeout_s, 0.0)
        for child in children:
            try:
                child.proc.wait(max(deadline_s - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                kill_group(child.pid)
                child.proc.wait()
            child.conn.close()
        self._stopped = True
        self._wake.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)
        return unfinished

    def terminate(self, job_id: str) -> bool:
        """Kill the process running ``job_id`` and everything it started (revoked); the
        outcome is REVOKED once it is reaped."""
        with self._lock:
            child = next(
                (c for c in self._children if c.job is not None and c.job.id == job_id), None
            )
            if child is None or child.state is not ChildState.BUSY or child.killed_at is not None:
                return False
            child.killed_at = datetime.now(UTC)
            child.revoked = True
            child.soft_at_s = child.hard_at_s = None
            pid, started = child.pid, set(child.sessions)
        sessions.kill_process_tree(pid, started)  # outside the lock: it scans /proc
        return True

    # --- internals: children ---------------------------------------------------------------
    def _ensure_capacity(self) -> None:
        """Start children until ``concurrency`` of them are alive and not exiting."""
        while not self._stopping:
            with self._lock:
                live = sum(1 for c in self._children if c.state is not ChildState.EXITING)
            if live >= self.concurrency:
                return
            if self._boot_failures >= _MAX_BOOT_FAILURES:
                raise PoolError(
                    f"prefork pool: {self._boot_failures} processes in a row died while "
                    f"importing {self.modules}: {self._last_boot_error or 'no error reported'}"
                )
            child = spawn(self._init)
            with self._lock:
                self._children.append(child)

    def _replace_if_short(self) -> None:
        if self._short:
            self._short = False
            self._ensure_capacity()

    def _count(self, state: ChildState) -> int:
        with self._lock:
            return sum(1 for c in self._children if c.state is state)

    def _retire_locked(self, child: Child, why: str) -> None:
        logger.info("prefork pool: retiring process %d (%s)", child.pid, why)
        child.state = ChildState.EXITING
        send_quietly(child.conn, RETIRE)

    def _pump(self, timeout_s: float, *, until_any: bool = False) -> list[Outcome]:
        """Read what the children sent, for up to ``timeout_s`` or until an outcome arrives
        (any message at all with ``until_any``)."""
        outcomes: list[Outcome] = []
        deadline_s = time.monotonic() + timeout_s
        while True:
            self._replace_if_short()
            with self._lock:
                by_fd = {c.conn.fileno(): c for c in self._children}
            remaining = max(deadline_s - time.monotonic(), 0.0)
            if not by_fd:
                if remaining > 0:
                    time.sleep(min(remaining, 0.05))  # nothing to read from (stopping)
                return outcomes
            ready = self._readable(by_fd.keys(), remaining)
            for fd in ready:
                outcome = self._receive(by_fd[fd])
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                return outcomes  # successors, if any, are started on the next call
            if (ready and until_any) or time.monotonic() >= deadline_s:
                self._replace_if_short()
                return outcomes

    def _readable(self, fds: Collection[int], timeout_s: float) -> list[int]:
        """Which of ``fds`` have something to read (or hung up), waiting up to ``timeout_s``."""
        if self._polled != fds:
            self._poller = select.poll()
            for fd in fds:
                self._poller.register(fd, select.POLLIN)
            self._polled = set(fds)
        return [fd for fd, _ in self._poller.poll(math.ceil(timeout_s * 1000))]

    def _receive(self, child: Child) -> Outcome | None:
        try:
            message: ChildMessage | tuple[object, ...] = child.conn.recv()
        except (EOFError, OSError):
            return self._on_exit(child)
        done = done_from(message)
        if done is not None:
            return self._on_done(child, done)
        if isinstance(message, Progress):
            self.progress.put(ProgressReport(message.job_id, message.state, message.meta))
        elif isinstance(message, SessionStarted):
            with self._lock:
                if child.job is not None:
                    child.sessions.add(message.sid)
        elif isinstance(message, Ready):
            self._on_ready(child)
        elif isinstance(message, BootError):
            child.boot_error = message.text
            logger.error("prefork pool: process %d cannot start: %s", child.pid, message.text)
        return None

    def _on_ready(self, child: Child) -> None:
        with self._lock:
            self._boot_failures = 0
            if child.state is not ChildState.BOOTING:
                return
            if not child.retire:
                child.state = ChildState.IDLE
                return
            self._retire_locked(child, "recycle")
        self._short = True  # it was retired: start its successor

    def _on_done(self, child: Child, done: Done) -> Outcome | None:
        job_id, rss_kib = done.job_id, done.peak_rss_kib
        why: str | None = None
        with self._lock:
            job = child.job
            child.job = None
            child.sessions.clear()  # the task ended; what it left running is its business
            child.soft_at_s = child.hard_at_s = None
            child.tasks_done += 1
            if child.state is ChildState.BUSY and child.killed_at is not None:
                # Finished as the hard limit fired: it is being killed, so it takes no new job.
                child.state = ChildState.EXITING
            elif child.state is ChildState.BUSY:
                child.state = ChildState.IDLE
                if child.retire:
                    why = "recycle"
                elif (
                    self.max_tasks_per_child is not None
                    and child.tasks_done >= self.max_tasks_per_child
                ):
                    why = f"max_tasks_per_child={self.max_tasks_per_child} reached"
                elif self.max_memory_per_child is not None and rss_kib > self.max_memory_per_child:
                    why = f"peak memory {rss_kib} KiB > max_memory_per_child"
                if why is not None:
                    self._retire_locked(child, why)
        if why is not None:
            self._short = True
        if job is None or job.id != job_id:
            logger.warning("prefork pool: outcome for unexpected job %s ignored", job_id)
            return None
        return Outcome(
            job_id=job_id,
            kind=OutcomeKind(done.kind),
            result=done.result,
            error=done.error,
            exc_type=done.exc_type,
            started_at=utc_from_timestamp(done.started_ts),
            finished_at=utc_from_timestamp(done.finished_ts),
            children=done.children,
            more_children=done.more_children,
        )

    def _on_exit(self, child: Child) -> Outcome | None:
        with self._lock:
            if child in self._children:
                self._children.remove(child)
            job, child.job = child.job, None
            was = child.state
            killed_at = child.killed_at
        child.conn.close()
        try:
            # SIGKILLed: a blocking waitpid returns the moment it is dead (the timed wait
            # polls with sleeps). Otherwise it may only have closed its socket: bounded wait.
            code = child.proc.wait(None if killed_at is not None else _REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_group(child.pid)
            code = child.proc.wait()
        # Anything left in its process group goes with it; after a hard limit, also what is
        # left in the sessions the task started, including ones reported just before it died.
        kill_group(child.pid)
        if killed_at is not None:
            with self._lock:
                started = set(child.sessions)
            sessions.kill_sessions(started)
        if was is ChildState.BOOTING:
            self._boot_failures += 1
            self._last_boot_error = child.boot_error or f"exit status {exit_text(code)}"
        elif was is not ChildState.EXITING or job is not None:
            logger.log(
                logging.INFO if killed_at is not None else logging.WARNING,
                "prefork pool: process %d exited (%s)%s",
                child.pid,
                exit_text(code),
                f" running job {job.id}" if job is not None else "",
            )
        self._short = True
        if job is None:
            return None
        return exit_outcome(child, job, killed_at, code)

    # --- internals: the deadline monitor (its own thread) ---------------------------------------
    def _watch_deadlines(self) -> None:
        while not self._stopped:
            nearest: float | None = None
            now = time.monotonic()
            expired: list[tuple[int, set[int]]] = []
            with self._lock:
                for child in self._children:
                    if child.state is not ChildState.BUSY or child.killed_at is not None:
                        continue
                    if child.hard_at_s is not None and now >= child.hard_at_s:
                        child.killed_at = datetime.now(UTC)
                        child.soft_at_s = child.hard_at_s = None
                        expired.append((child.pid, set(child.sessions)))
                        continue
                    if child.soft_at_s is not None and now >= child.soft_at_s:
                        child.soft_at_s = None
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.pid, signal.SIGUSR1)
                    for at in (child.soft_at_s, child.hard_at_s):
                        if at is not None and (nearest is None or at < nearest):
                            nearest = at
            for pid, started in expired:
                # Outside the lock: it scans /proc. See worker.sessions.
                sessions.kill_process_tree(pid, started)
            timeout = None if nearest is None else max(nearest - time.monotonic(), 0.0)
            self._wake.wait(timeout)
            self._wake.clear()
