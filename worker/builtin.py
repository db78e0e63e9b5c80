"""Tasks that ship with the worker and are always registered: ``command`` and ``log``.

``command`` runs only the programs this worker allows (``worker.commands``, see
:mod:`worker.commands`); any other is refused with :class:`~worker.errors.Reject` (the message
is dead-lettered, nothing is started). It runs the program in its own session (and process
group), so a soft time limit can end the whole group before the exception propagates, and it
reports the session to the pool (:mod:`worker.sessions`), which kills every process in it when
the hard limit fires, including ones re-parented to PID 1. On Linux the program also gets
``PR_SET_PDEATHSIG=SIGKILL``: if the pool process dies for any other reason, the kernel kills
the program with it.
Output is captured and each of stdout and stderr is truncated to its last
:data:`OUTPUT_LIMIT_BYTES` (64 KiB), with a marker saying how much was cut.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from worker import commands, sessions
from worker.registry import task

logger = logging.getLogger(__name__)

OUTPUT_LIMIT_BYTES = 64 * 1024
_PR_SET_PDEATHSIG = 1
# How long a terminated process group gets to exit before SIGKILL.
_TERMINATE_GRACE_S = 2.0


class CommandFailed(Exception):
    """A ``command`` task's program exited non-zero (and ``check`` was true)."""

    def __init__(self, argv: Sequence[str], exit_code: int, stderr: str) -> None:
        tail = stderr.strip().splitlines()[-1:] if stderr.strip() else []
        detail = f": {tail[0]}" if tail else ""
        super().__init__(f"command {list(argv)!r} exited with status {exit_code}{detail}")
        self.exit_code = exit_code


def _truncate(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(data) <= OUTPUT_LIMIT_BYTES:
        return text
    cut = len(data) - OUTPUT_LIMIT_BYTES
    kept = data[-OUTPUT_LIMIT_BYTES:].decode("utf-8", errors="replace")
    return f"[... {cut} bytes truncated ...]\n{kept}"


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None

    def set_pdeathsig() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return set_pdeathsig


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the program's process group, then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_TERMINATE_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@task(name="command")
def command(
    *argv: str,
    shell: bool = False,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """Run a program; returns ``{"exit_code", "stdout", "stderr"}``.

    ``argv`` is the program (an absolute path listed in ``worker.commands``) and its arguments.
    With ``shell=True`` there must be exactly one argument, run by ``/bin/sh -c`` (so
    ``/bin/sh`` must be listed). ``env`` is added to the worker's environment (its names must be
    listed in ``worker.command_env``). With ``check`` (the default) a non-zero exit fails the
    task with :class:`CommandFailed`.
    """
    if not argv:
        raise ValueError("command: args must name a program (a list of strings)")
    if not all(isinstance(a, str) for a in argv):
        raise TypeError("command: every argument must be a string")
    if shell and len(argv) != 1:
        raise ValueError("command: with shell=true, args must be one string for /bin/sh -c")
    program: list[str] = ["/bin/sh", "-c", argv[0]] if shell else list(argv)
    if env is not None and not isinstance(env, Mapping):
        raise TypeError("command: env must be a mapping of variable names to values")
    commands.current().check(program, env)
    environ = None if env is None else {**os.environ, **{str(k): str(v) for k, v in env.items()}}
    proc = subprocess.Popen(
        program,
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent(),
    )
    try:
        sessions.started(proc.pid)  # its session id: it is the session leader
        stdout, stderr = proc.communicate()
    except BaseException:
        # The soft time limit (or any interruption) lands here: end the whole group, re-raise.
        _end_group(proc)
        raise
    err_text = _truncate(stderr)
    result: dict[str, object] = {
        "exit_code": proc.returncode,
        "stdout": _truncate(stdout),
        "stderr": err_text,
    }
    if check and proc.returncode != 0:
        raise CommandFailed(program, proc.returncode, err_text)
    return result


@task(name="log")
def log(message: str = "", level: str = "INFO") -> str:
    """Log ``message`` at ``level`` (default INFO) and return it."""
    numeric = logging.getLevelName(str(level).upper())
    logger.log(numeric if isinstance(numeric, int) else logging.INFO, "%s", message)
    return message
