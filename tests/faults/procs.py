"""Real processes for fault tests: private redis-servers, beats and workers, and their logs.

Fault tests kill and restart Redis, so they never use the shared server on 6379 (other tests run
against it in parallel): each test starts its own ``redis-server`` on a free port, with its
data in the test's tmp directory. Imported as ``tests.faults.procs`` by the fault and security
tests, which bind its fixtures at module level (``spawn = procs.spawn``) instead of through a
``conftest.py``: tests/worker does ``from conftest import ...``, and a second conftest.py
collected before it could shadow that module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.logged_process import LoggedProcess

FAULTS_DIR = Path(__file__).resolve().parent
REPO = FAULTS_DIR.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class RedisServer:
    """A private redis-server; ``kill()`` and ``start()`` again keep the port (and, with AOF,
    the data), like a production Redis restarting."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    persistent: bool = True
    proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0, password: str | None = None, scheme: str = "redis") -> str:
        auth = f":{password}@" if password is not None else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def argv(self) -> list[str]:
        # AOF with fsync on every write: a kill -9 of the server loses nothing, so counts
        # across a restart are exact (no RDB snapshots written anywhere).
        persist = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            *persist, "--dir", str(self.workdir), *self.extra,
        ]  # fmt: skip

    def start(self, ready: bool = True) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        if ready:
            wait_until(self._listening, 10, f"redis-server on port {self.port}")

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            log = (self.workdir / "redis.log").read_text(errors="replace")
            raise AssertionError(f"redis-server exited {self.proc.returncode}:\n{log[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                reply = s.recv(64)
                # +PONG, or -NOAUTH when a password is required: either way it answers.
                return reply.startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory: ``private_redis(*extra_args, persistent=True)`` starts a server; all are
    killed at teardown."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    servers: list[RedisServer] = []

    def start(*extra: str, persistent: bool = True) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", extra=extra, persistent=persistent)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


@dataclass
class Proc(LoggedProcess):
    """A beat or worker process with its log file (stdout and stderr)."""

    WAIT_S: ClassVar[float] = 20

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout}s after SIGTERM:\n{self.log()}") from None

    def tree(self) -> list[int]:
        """The process and its descendants (prefork pool processes run in groups of their
        own, so a process group is not enough)."""
        pids = [self.proc.pid]
        for pid in pids:
            pids.extend(children(pid))
        return pids

    def signal_tree(self, signum: int) -> None:
        for pid in self.tree():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill9_tree(self) -> None:
        """SIGKILL the process and its pool processes at once, like a machine dying."""
        if self.proc.poll() is None:
            self.signal_tree(signal.SIGKILL)
        self.proc.wait(10)

    def lines(self, level: str) -> list[str]:
        """Log lines at ``level`` (text format: '<time> <LEVEL> ...')."""
        return [line for line in self.log().splitlines() if f" {level} " in line]


def parent_of(pid: int) -> int:
    """A process's parent pid, from /proc (field 4 of stat, after the command in parens)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    return out


def proc_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(FAULTS_DIR), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


StartProc = Callable[..., Proc]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[StartProc]:
    """``spawn(kind, *args, cwd=None, env=None)``: run ``python -m beat|worker`` with args;
    every process is killed (with its group) at teardown."""
    procs: list[Proc] = []

    def start(
        kind: str, *args: str, cwd: Path | None = None, env: dict[str, Any] | None = None
    ) -> Proc:
        log_path = tmp_path / f"{kind}-{len(procs)}.log"
        argv = [sys.executable, "-m", kind, *args]
        env = env or proc_env()
        p = Proc.launch(argv, log_path, env=env, cwd=cwd or tmp_path, start_new_session=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.proc.poll() is None:
            p.signal_tree(signal.SIGCONT)  # a stopped process would not die of SIGKILL later
            p.kill9_tree()


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m beat ARGS`` to completion (the CLI as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "beat", *args],
        capture_output=True,
        text=True,
        env=proc_env(),
        cwd=cwd,
        timeout=timeout,
    )
