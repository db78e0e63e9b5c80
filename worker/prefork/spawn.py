"""Starting a pool process: the fresh interpreter, its socket, and the start-up state the
parent hands it (see :mod:`worker.prefork`)."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Pipe

from worker import commands, producer
from worker.prefork.children import Child
from worker.prefork.protocol import ChildInit

logger = logging.getLogger(__name__)

_CHILD_CODE = "from worker.prefork.child import child_main; child_main()"


def child_init(modules: Sequence[str], *, report_memory: bool) -> ChildInit:
    """The parent's start-up state for its children (taken once, when the pool is built)."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    try:
        pickled_formatter = pickle.dumps(formatter) if formatter is not None else None
    except Exception:  # an exotic formatter: children fall back to a plain one
        pickled_formatter = None
    # The command policy set by the worker at start-up (worker.commands) holds in children.
    policy = commands.current()
    return ChildInit(
        list(sys.path),
        list(modules),
        root.getEffectiveLevel(),
        pickled_formatter,
        policy,
        producer.configured(),
        report_memory=report_memory,
    )


def spawn(init: ChildInit) -> Child:
    """Start one child process and send it ``init``; it answers Ready once it imported."""
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
    parent_end.send(init)
    logger.debug("prefork pool: started process %d", proc.pid)
    return Child(proc=proc, conn=parent_end)
