"""The prefork pool: N long-lived child processes, deadlines owned by the parent.

Children
    Each child is a fresh interpreter (``sys.executable``), started with its own process group
    and one socket (a :mod:`multiprocessing.connection` pair) to the parent. A fresh interpreter
    rather than ``fork()``: the worker process has threads (lease keeper) and broker sockets that
    a forked child would inherit half-locked, and :meth:`PreforkPool.recycle` must load *new*
    code, which a fork of the old parent cannot. The child imports the operator's task modules
    (``modules``), so it has its own registry; a job crosses by task *name*. Jobs and outcomes
    are small pickled tuples; a child serves any number of jobs, so no process is started per
    job.

Deadlines
    The parent owns every deadline. A monitor thread sleeps until the nearest one (a
    :class:`threading.Event` wait, woken by each submit): at the soft limit it sends ``SIGUSR1``
    to the child, whose handler raises :class:`~worker.errors.SoftTimeLimitExceeded` inside the
    task; at the hard limit it stops the child and ``SIGKILL``\\ s its process group, every
    process below it and every process in the sessions the task started (which the child
    reports as ``("session", sid)`` messages, see :mod:`worker.sessions`), so no program the
    task started survives, even one re-parented to PID 1. The report is read by the consumer
    thread; one not read yet when the limit fires is still found, as a descendant of the child,
    and the sessions are swept again when the child's end-of-file is read.

    The monitor needs the parent's GIL to act, and a busy consumer thread holds it for up to
    ``sys.getswitchinterval()``: :meth:`start` lowers that interval to 1 ms (cheap: the monitor
    is the only thread that ever waits for the GIL long). For precision the child also arms its
    own ``ITIMER_REAL`` (``SIGALRM``) for the soft limit, which the kernel delivers on time
    whatever the parent is doing; whichever signal comes first raises, once per job. (A task
    that installs its own ``SIGALRM`` handler only gets the parent's signal.)

Replacement
    A child that exits is noticed as end-of-file on its socket: its job is reported
    ``TIME_LIMIT`` (killed by the monitor) or ``LOST`` (anything else), and a new child is
    started. ``max_tasks_per_child`` and ``max_memory_per_child`` (peak RSS in KiB after a job)
    retire a child gracefully between jobs; :meth:`PreforkPool.recycle` retires every child
    after its current job.

Children die with the parent: ``PR_SET_PDEATHSIG(SIGKILL)`` on Linux, a parent-pid check at
start-up, and end-of-file on the socket between jobs. ``PR_SET_PDEATHSIG`` fires when the
*thread* that started the child ends, so the pool must be driven (``start``/``wait``/``recycle``)
from a thread that lives as long as the pool: the consumer's (main) thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import logging
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Pipe
from multiprocessing.connection import wait as wait_connections
from types import FrameType
from typing import Any

from worker import commands, sessions
from worker.errors import PoolError, Reject, SoftTimeLimitExceeded, UnknownTask
from worker.pool import (
    DEFAULT_SWITCH_INTERVAL_S,
    Job,
    Outcome,
    OutcomeKind,
    RunResult,
    check_result,
    describe,
    exception_name,
    hard_limit_error,
    lower_switch_interval,
    rejected_outcome,
    soft_limit_error,
    soft_outcome,
    utc_from_timestamp,
)

logger = logging.getLogger(__name__)

DEFAULT_BOOT_TIMEOUT_S = 60.0
# Consecutive children dying before they are ready: the task modules cannot load; give up.
_MAX_BOOT_FAILURES = 5
_REAP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1
_CHILD_CODE = "from worker.prefork import child_main; child_main()"

# Messages child -> parent (tuples; the first item is the tag).
_READY = "ready"  # ("ready", pid)
_DONE = "done"  # ("done", job_id, kind, result, error, exc_type, started_ts, finished_ts, rss)
_BOOT_ERROR = "error"  # ("error", text): the task modules failed to import
_SESSION = "session"  # ("session", sid): the running task started a process session


class _State(enum.Enum):
    BOOTING = "booting"  # started, importing task modules
    IDLE = "idle"
    BUSY = "busy"
    EXITING = "exiting"  # told to exit after its last job; its replacement already exists


@dataclass(slots=True, eq=False)
class _Child:
    proc: subprocess.Popen[bytes]
    conn: Connection
    state: _State = _State.BOOTING
    job: Job | None = None
    started_at: datetime | None = None
    soft_at: float | None = None  # monotonic; None once signalled or when there is no limit
    hard_at: float | None = None
    killed_at: datetime | None = None  # set when the monitor killed it for the hard limit
    tasks_done: int = 0
    retire: bool = False  # exit after the current job (recycle)
    boot_error: str | None = None
    sessions: set[int] = field(default_factory=set)  # started by the current job

    @property
    def pid(self) -> int:
        return self.proc.pid


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
        self._children: list[_Child] = []
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
        self._init = self._child_init()

    # --- Pool protocol -------------------------------------------------------------------
    def needs_restart(self) -> bool:
        return False

    def start(self) -> None:
        """Start the children and the monitor; returns once every child is ready."""
        if self._monitor is not None:
            raise PoolError("prefork pool: already started")
        lower_switch_interval(self.switch_interval)
        self._monitor = threading.Thread(target=self._watch_deadlines, name="pool-monitor")
        self._monitor.daemon = True
        self._monitor.start()
        try:
            self._ensure_capacity()
            deadline = time.monotonic() + self.boot_timeout
            while self._count(_State.BOOTING) > 0:
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
            child = next((c for c in self._children if c.state is _State.IDLE), None)
            if child is None or self._stopping:
                raise PoolError(f"prefork pool: no free process for job {job.id}")
            now = time.monotonic()
            child.state = _State.BUSY
            child.job = job
            child.started_at = datetime.now(UTC)
            soft, hard = job.soft_time_limit, job.time_limit
            # A soft limit at or after the hard one could never be acted on.
            child.soft_at = (
                now + soft if soft is not None and (hard is None or soft < hard) else None
            )
            child.hard_at = now + hard if hard is not None else None
            try:
                effective_soft = soft if child.soft_at is not None else None
                child.conn.send(
                    (job.id, job.task.name, job.args, job.kwargs, effective_soft, job.task_id)
                )
            except (OSError, ValueError, pickle.PicklingError) as e:
                # A dead child shows up as end-of-file in wait(), which reports the job LOST.
                logger.warning(
                    "prefork pool: could not hand job %s to %d: %s", job.id, child.pid, e
                )
        if child.soft_at is not None or child.hard_at is not None:
            self._wake.set()

    def wait(self, timeout: float) -> list[Outcome]:
        outcomes, self._pending = self._pending, []
        if outcomes:
            timeout = 0.0
        outcomes.extend(self._pump(timeout))
        return outcomes

    def free_slots(self) -> int:
        if self._stopping:
            return 0
        return self._count(_State.IDLE)

    def recycle(self) -> None:
        """Retire every child after its current job; replacements import the code anew."""
        with self._lock:
            for child in self._children:
                if child.state is _State.IDLE:
                    self._retire_locked(child, "recycle")
                elif child.state is _State.BUSY:
                    child.retire = True
                elif child.state is _State.BOOTING:
                    # Already importing; it may have read old files, so retire it when ready.
                    child.retire = True
        self._ensure_capacity()
        logger.info("prefork pool: recycling %d process(es)", self.concurrency)

    def stop(self, timeout: float) -> list[Job]:
        """Kill busy children (their jobs are returned), let idle ones exit, stop the monitor."""
        with self._lock:
            self._stopping = True
            busy = [(c.pid, set(c.sessions)) for c in self._children if c.job is not None]
            unfinished = [c.job for c in self._children if c.job is not None]
            for child in self._children:
                if child.job is None and child.state is not _State.EXITING:
                    child.state = _State.EXITING
                    _send_quietly(child.conn, None)
            children = list(self._children)
            self._children.clear()
        # Busy ones are killed with what their jobs started, outside the lock (/proc scans).
        for pid, started in busy:
            sessions.kill_process_tree(pid, started)
        deadline = time.monotonic() + max(timeout, 0.0)
        for child in children:
            try:
                child.proc.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                _kill_group(child.pid)
                child.proc.wait()
            child.conn.close()
        self._stopped = True
        self._wake.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)
        return unfinished

    # --- internals: children ---------------------------------------------------------------
    def _child_init(
        self,
    ) -> tuple[list[str], list[str], int, bytes | None, commands.CommandPolicy]:
        root = logging.getLogger()
        formatter = root.handlers[0].formatter if root.handlers else None
        try:
            pickled_formatter = pickle.dumps(formatter) if formatter is not None else None
        except Exception:  # an exotic formatter: children fall back to a plain one
            pickled_formatter = None
        # The command policy set by the worker at start-up (worker.commands) holds in children.
        policy = commands.current()
        return list(sys.path), self.modules, root.getEffectiveLevel(), pickled_formatter, policy

    def _spawn(self) -> _Child:
        parent_end, child_end = Pipe(duplex=True)
        fd = child_end.fileno()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CODE, str(fd), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                pass_fds=(fd,),
                process_group=0,  # its own group, so the hard limit kills what it started
            )
        finally:
            child_end.close()
        parent_end.send(self._init)
        logger.debug("prefork pool: started process %d", proc.pid)
        return _Child(proc=proc, conn=parent_end)

    def _ensure_capacity(self) -> None:
        """Start children until ``concurrency`` of them are alive and not exiting."""
        while not self._stopping:
            with self._lock:
                live = sum(1 for c in self._children if c.state is not _State.EXITING)
            if live >= self.concurrency:
                return
            if self._boot_failures >= _MAX_BOOT_FAILURES:
                raise PoolError(
                    f"prefork pool: {self._boot_failures} processes in a row died while "
                    f"importing {self.modules}: {self._last_boot_error or 'no error reported'}"
                )
            child = self._spawn()
            with self._lock:
                self._children.append(child)

    def _replace_if_short(self) -> None:
        if self._short:
            self._short = False
            self._ensure_capacity()

    def _count(self, state: _State) -> int:
        with self._lock:
            return sum(1 for c in self._children if c.state is state)

    def _retire_locked(self, child: _Child, why: str) -> None:
        logger.info("prefork pool: retiring process %d (%s)", child.pid, why)
        child.state = _State.EXITING
        _send_quietly(child.conn, None)

    def _pump(self, timeout: float, *, until_any: bool = False) -> list[Outcome]:
        """Read what the children sent, for up to ``timeout`` s or until an outcome arrives
        (any message at all with ``until_any``)."""
        outcomes: list[Outcome] = []
        deadline = time.monotonic() + timeout
        while True:
            self._replace_if_short()
            with self._lock:
                by_conn = {c.conn: c for c in self._children}
            remaining = max(deadline - time.monotonic(), 0.0)
            if not by_conn:
                if remaining > 0:
                    time.sleep(min(remaining, 0.05))  # nothing to read from (stopping)
                return outcomes
            ready = wait_connections(list(by_conn), remaining)
            for conn in ready:
                assert isinstance(conn, Connection)
                outcome = self._receive(by_conn[conn])
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                return outcomes  # successors, if any, are started on the next call
            if (ready and until_any) or time.monotonic() >= deadline:
                self._replace_if_short()
                return outcomes

    def _receive(self, child: _Child) -> Outcome | None:
        try:
            message = child.conn.recv()
        except (EOFError, OSError):
            return self._on_exit(child)
        tag = message[0]
        if tag == _DONE:
            return self._on_done(child, message)
        if tag == _SESSION:
            with self._lock:
                if child.job is not None:
                    child.sessions.add(int(message[1]))
            return None
        if tag == _READY:
            with self._lock:
                self._boot_failures = 0
                if child.state is _State.BOOTING:
                    if child.retire:
                        self._retire_locked(child, "recycle")
                    else:
                        child.state = _State.IDLE
                        return None
            self._short = True  # it was retired: start its successor
        elif tag == _BOOT_ERROR:
            child.boot_error = str(message[1])
            logger.error("prefork pool: process %d cannot start: %s", child.pid, message[1])
        return None

    def _on_done(self, child: _Child, message: tuple[Any, ...]) -> Outcome | None:
        _, job_id, kind, result, error, exc_type, started_ts, finished_ts, rss_kib = message
        why: str | None = None
        with self._lock:
            job = child.job
            child.job = None
            child.sessions.clear()  # the task ended; what it left running is its business
            child.soft_at = child.hard_at = None
            child.tasks_done += 1
            if child.state is _State.BUSY and child.killed_at is not None:
                # Finished as the hard limit fired: it is being killed, so it takes no new job.
                child.state = _State.EXITING
            elif child.state is _State.BUSY:
                child.state = _State.IDLE
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
            kind=OutcomeKind(kind),
            result=result,
            error=error,
            exc_type=exc_type,
            started_at=utc_from_timestamp(started_ts),
            finished_at=utc_from_timestamp(finished_ts),
        )

    def _on_exit(self, child: _Child) -> Outcome | None:
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
            _kill_group(child.pid)
            code = child.proc.wait()
        # Anything left in its process group goes with it; after a hard limit, also what is
        # left in the sessions the task started, including ones reported just before it died.
        _kill_group(child.pid)
        if killed_at is not None:
            with self._lock:
                started = set(child.sessions)
            sessions.kill_sessions(started)
        if was is _State.BOOTING:
            self._boot_failures += 1
            self._last_boot_error = child.boot_error or f"exit status {_exit_text(code)}"
        elif was is not _State.EXITING or job is not None:
            logger.log(
                logging.INFO if killed_at is not None else logging.WARNING,
                "prefork pool: process %d exited (%s)%s",
                child.pid,
                _exit_text(code),
                f" running job {job.id}" if job is not None else "",
            )
        self._short = True
        if job is None:
            return None
        if killed_at is not None:
            return Outcome(
                job_id=job.id,
                kind=OutcomeKind.TIME_LIMIT,
                error=hard_limit_error(job.time_limit, f"process {child.pid} killed"),
                exc_type="worker.errors.TimeLimitExceeded",
                started_at=child.started_at,
                finished_at=killed_at,
            )
        return Outcome(
            job_id=job.id,
            kind=OutcomeKind.LOST,
            error=f"pool process {child.pid} died ({_exit_text(code)})",
            exc_type="worker.errors.WorkerLost",
            started_at=child.started_at,
            finished_at=datetime.now(UTC),
        )

    # --- internals: the deadline monitor (its own thread) ---------------------------------------
    def _watch_deadlines(self) -> None:
        while not self._stopped:
            nearest: float | None = None
            now = time.monotonic()
            expired: list[tuple[int, set[int]]] = []
            with self._lock:
                for child in self._children:
                    if child.state is not _State.BUSY or child.killed_at is not None:
                        continue
                    if child.hard_at is not None and now >= child.hard_at:
                        child.killed_at = datetime.now(UTC)
                        child.soft_at = child.hard_at = None
                        expired.append((child.pid, set(child.sessions)))
                        continue
                    if child.soft_at is not None and now >= child.soft_at:
                        child.soft_at = None
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.pid, signal.SIGUSR1)
                    for at in (child.soft_at, child.hard_at):
                        if at is not None and (nearest is None or at < nearest):
                            nearest = at
            for pid, started in expired:
                # Outside the lock: it scans /proc. See worker.sessions.
                sessions.kill_process_tree(pid, started)
            timeout = None if nearest is None else max(nearest - time.monotonic(), 0.0)
            self._wake.wait(timeout)
            self._wake.clear()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _send_quietly(conn: Connection, message: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(message)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


# ----------------------------------------------------------------------------------------------
# The child process
# ----------------------------------------------------------------------------------------------

# Whether a task is running right now: the soft-limit handler raises only inside a task, never
# in the child's own loop (a late signal for a job that just finished is ignored).
_in_task = False
_soft_raised = False  # once per job: the child's timer and the parent's signal may both come
_soft_text = "soft time limit"


def _on_soft_limit(signum: int, frame: FrameType | None) -> None:
    global _soft_raised
    if _in_task and not _soft_raised:
        _soft_raised = True
        raise SoftTimeLimitExceeded(_soft_text)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _configure_logging(level: int, pickled_formatter: bytes | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter | None = None
    if pickled_formatter is not None:
        with contextlib.suppress(Exception):
            formatter = pickle.loads(pickled_formatter)
    handler.setFormatter(
        formatter
        or logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _run(
    name: str, args: Sequence[Any], kwargs: dict[str, Any], soft: float | None, task_id: str = ""
) -> RunResult:
    global _in_task, _soft_raised, _soft_text
    from worker.registry import REGISTRY

    try:
        task = REGISTRY.get(name)
    except UnknownTask as e:
        return OutcomeKind.FAILURE, None, str(e), exception_name(e)
    _soft_text = soft_limit_error(soft)
    _soft_raised = False
    # Our own timer too: the kernel delivers it on time whatever the parent's GIL is doing.
    own_timer = signal.getsignal(signal.SIGALRM) is _on_soft_limit  # unless a task took SIGALRM
    timer = soft if own_timer else None
    try:
        _in_task = True
        if timer is not None:
            signal.setitimer(signal.ITIMER_REAL, timer)
        try:
            result = task.fn(*args, **kwargs)
        finally:
            _in_task = False
            if timer is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except SoftTimeLimitExceeded as e:
        return soft_outcome(e, soft)
    except Reject as e:
        logger.error("task %s rejected its message: %s", name, e)
        return rejected_outcome(e)
    except BaseException as e:  # SystemExit/KeyboardInterrupt from task code must not end us
        logger.error(
            "task %s raised %s",
            name,
            describe(e),
            exc_info=True,
            extra={"task": name, "task_id": task_id},
        )
        return OutcomeKind.FAILURE, None, describe(e), exception_name(e)
    return check_result(result)


def _peak_rss_kib() -> int:
    """This process's peak resident memory in KiB.

    Linux's ``ru_maxrss`` survives ``exec``: a child spawned by a large process starts with the
    spawner's peak (e.g. a 1 GiB worker would see every child "over" a 500 MiB limit at once).
    ``VmHWM`` in /proc/self/status belongs to the new address space, so it is read first.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _serve(conn: Connection) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return  # retired
        job_id, name, args, kwargs, soft, task_id = message
        started = time.time()
        kind, result, error, exc_type = _run(name, args, kwargs, soft, task_id)
        finished = time.time()
        rss_kib = _peak_rss_kib()
        try:
            conn.send(
                (_DONE, job_id, kind.value, result, error, exc_type, started, finished, rss_kib)
            )
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            # JSON-able but not picklable (an exotic subclass): report it rather than hang.
            error = f"result could not be sent to the worker: {describe(e)}"
            failure = OutcomeKind.FAILURE.value
            conn.send(
                (_DONE, job_id, failure, None, error, exception_name(e), started, finished, rss_kib)
            )


def _session_reporter(conn: Connection) -> sessions.Reporter:
    """Send each session the task starts to the parent, before the task goes on."""
    lock = threading.Lock()  # a task may start programs from several threads
    quiet = {signal.SIGUSR1, signal.SIGALRM}

    def report(sid: int) -> None:
        # A soft limit raised halfway through a send would corrupt the stream to the parent:
        # hold the signals for the moment of the send (they are delivered right after).
        old = signal.pthread_sigmask(signal.SIG_BLOCK, quiet)
        try:
            with lock:
                conn.send((_SESSION, sid))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    return report


def child_main() -> None:
    """Entry point of a pool process: ``python -c ... FD PARENT_PID``."""
    fd, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, _on_soft_limit)
    signal.signal(signal.SIGALRM, _on_soft_limit)
    conn = Connection(fd)
    code = 0
    try:
        path, modules, level, formatter, policy = conn.recv()
        sys.path[:] = path
        _configure_logging(level, formatter)
        commands.allow(policy.programs, policy.env)
        sessions.set_process_reporter(_session_reporter(conn))
        import multiprocessing

        multiprocessing.current_process().name = f"PoolWorker-{os.getpid()}"
        from worker.registry import REGISTRY

        try:
            REGISTRY.import_modules(modules)
        except Exception as e:
            conn.send((_BOOT_ERROR, str(e)))
            code = 3
            return
        conn.send((_READY, os.getpid()))
        _serve(conn)
    except (EOFError, OSError):
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # No interpreter teardown: nothing inherited needs finalising, and it is faster.
        os._exit(code)
