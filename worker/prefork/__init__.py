"""The prefork pool: N long-lived child processes, deadlines owned by the parent.

Children
    Each child is a fresh interpreter (``sys.executable``), started with its own process group
    and one socket (a :mod:`multiprocessing.connection` pair) to the parent. A fresh interpreter
    rather than ``fork()``: the worker process has threads (lease keeper) and broker sockets that
    a forked child would inherit half-locked, and :meth:`PreforkPool.recycle` must load *new*
    code, which a fork of the old parent cannot. The child imports the operator's task modules
    (``modules``), so it has its own registry; a job crosses by task *name*. Jobs and outcomes
    are small typed messages (:mod:`worker.prefork.protocol`); a child serves any number of
    jobs, so no process is started per job. The parent's side is :mod:`worker.prefork.parent`
    (which starts processes with :mod:`worker.prefork.spawn`), the child program
    :mod:`worker.prefork.child`.

Deadlines
    The parent owns every deadline. A monitor thread sleeps until the nearest one (a
    :class:`threading.Event` wait, woken by each submit): at the soft limit it sends ``SIGUSR1``
    to the child, whose handler raises :class:`~worker.errors.SoftTimeLimitExceeded` inside the
    task; at the hard limit it stops the child and ``SIGKILL``\\ s its process group, every
    process below it and every process in the sessions the task started (which the child
    reports as ``SessionStarted`` messages, see :mod:`worker.sessions`), so no program the
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

from worker.prefork.parent import PreforkPool

__all__ = ["PreforkPool"]
