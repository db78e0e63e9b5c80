"""The child program of the prefork pool: a fresh interpreter that imports the task modules
and runs one job at a time for the parent (see :mod:`worker.prefork`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import pickle
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from worker import commands, producer, sessions
from worker.context import Report, run_task
from worker.errors import (
    Reject,
    Retry,
    SoftTimeLimitExceeded,
    UnknownTask,
    describe,
    exception_name,
)
from worker.lineage import Calls
from worker.pool import (
    OutcomeKind,
    RunResult,
    check_result,
    failed_outcome,
    rejected_outcome,
    retry_outcome,
    soft_limit_error,
    soft_outcome,
)
from worker.prefork.protocol import (
    BootError,
    ChildInit,
    Done,
    Progress,
    Ready,
    RunJob,
    SessionStarted,
    job_from,
    send_done,
)

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

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


def _run(job: RunJob, report: Report, calls: Calls) -> RunResult:
    global _in_task, _soft_raised, _soft_text
    from worker.registry import REGISTRY

    name, soft, task_id = job.task, job.soft_time_limit, job.task_id
    try:
        task = REGISTRY.get(name)
    except UnknownTask as e:
        return OutcomeKind.FAILURE, None, str(e), exception_name(e)
    _soft_text = soft_limit_error(soft)
    _soft_raised = False
    # Our own timer too: the kernel delivers it on time whatever the parent's GIL is doing.
    own_timer = signal.getsignal(signal.SIGALRM) is _on_soft_limit  # unless a task took SIGALRM
    timer_s = soft.total_seconds() if own_timer and soft is not None else None
    try:
        _in_task = True
        if timer_s is not None:
            signal.setitimer(signal.ITIMER_REAL, timer_s)
        try:
            result = run_task(task, job.request, task_id, job.args, job.kwargs, report, calls)
        finally:
            _in_task = False
            if timer_s is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except SoftTimeLimitExceeded as e:
        return soft_outcome(e, soft)
    except Reject as e:
        logger.error("task %s rejected its message: %s", name, e)
        return rejected_outcome(e)
    except Retry as e:
        return retry_outcome(e)
    except BaseException as e:  # SystemExit/KeyboardInterrupt from task code must not end us
        logger.error(
            "task %s raised %s",
            name,
            describe(e),
            exc_info=True,
            extra={"task": name, "task_id": task_id},
        )
        return failed_outcome(e)
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


def _serve(conn: Connection, report_memory: bool) -> None:
    send = _guarded_sender(conn)
    while True:
        try:
            job = job_from(conn.recv())
        except (EOFError, OSError):
            return  # the parent is gone
        if job is None:
            return  # retired
        started = time.time()
        calls = Calls()
        kind, result, error, exc_type = _run(job, _progress_reporter(send, job.job_id), calls)
        finished = time.time()
        rss_kib = _peak_rss_kib() if report_memory else 0
        done = Done(
            job.job_id,
            kind.value,
            result,
            error,
            exc_type,
            started,
            finished,
            rss_kib,
            tuple(calls.ids),
            calls.more,
        )
        try:
            send_done(conn, done)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            # JSON-able but not picklable (an exotic subclass): report it rather than hang.
            error = f"result could not be sent to the worker: {describe(e)}"
            failed = OutcomeKind.FAILURE.value
            send_done(
                conn,
                done._replace(kind=failed, result=None, error=error, exc_type=exception_name(e)),
            )


_send_lock = threading.Lock()  # a task may report from several threads


def _guarded_sender(conn: Connection) -> Callable[[Any], None]:
    """Send a message to the parent while the task runs, whole."""
    quiet = {signal.SIGUSR1, signal.SIGALRM}

    def send(message: Any) -> None:
        # A soft limit raised halfway through a send would corrupt the stream to the parent:
        # hold the signals for the moment of the send (they are delivered right after).
        old = signal.pthread_sigmask(signal.SIG_BLOCK, quiet)
        try:
            with _send_lock:
                conn.send(message)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    return send


def _progress_reporter(send: Callable[[Any], None], job_id: str) -> Report:
    """``self.update_state`` in a child: a typed message to the parent, which has the broker."""
    return lambda state, meta: send(Progress(job_id, state, meta))


def _session_reporter(conn: Connection) -> sessions.Reporter:
    """Send each session the task starts to the parent, before the task goes on."""
    send = _guarded_sender(conn)
    return lambda sid: send(SessionStarted(sid))


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
        init: ChildInit = conn.recv()
        sys.path[:] = init.sys_path
        _configure_logging(init.log_level, init.log_formatter)
        commands.allow(init.command_policy.programs, init.command_policy.env)
        # Calls made by task code go to the worker's broker, routed by its routes.
        producer.configure(broker=init.producer[0], routes=init.producer[1])
        sessions.set_process_reporter(_session_reporter(conn))
        import multiprocessing

        multiprocessing.current_process().name = f"PoolWorker-{os.getpid()}"
        from worker.registry import REGISTRY

        try:
            REGISTRY.import_modules(init.modules)
        except Exception as e:
            conn.send(BootError(str(e)))
            code = 3
            return
        gc.freeze()  # as the parent does (worker/service.py): imports live as long as we do
        conn.send(Ready(os.getpid()))
        _serve(conn, init.report_memory)
    except (EOFError, OSError):
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # No interpreter teardown: nothing inherited needs finalising, and it is faster.
        os._exit(code)
