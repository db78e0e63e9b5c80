"""The Redis every benchmark runs against: a private ``redis-server`` unless told otherwise.

A benchmark flushes its database between runs, so pointed at a shared Redis it would wipe
someone else's data. By default each bench starts its own ``redis-server`` on a free port
(persistence off, data in a temporary directory) and kills it when the bench ends, also on
Ctrl-C, SIGTERM or an exception. ``--redis-url`` uses another server instead, and is refused
unless ``--yes-flush`` says that the database named may be flushed.

    parser = argparse.ArgumentParser()
    add_redis_args(parser)
    args = parser.parse_args()
    with bench_redis(args) as target:   # target.url(db), target.flush(db)
        ...

(Kept apart from ``tests/``: benchmarks do not import the test suite.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit


class ForeignRedisRefused(SystemExit):
    """A bench was pointed at a Redis it did not start, without ``--yes-flush``."""


def add_redis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        "--redis",
        dest="redis_url",
        help="use this Redis database instead of a private redis-server (it is FLUSHED: "
        "needs --yes-flush)",
    )
    parser.add_argument(
        "--yes-flush",
        action="store_true",
        help="allow flushing the database given with --redis-url",
    )
    parser.add_argument(
        "--redis-hz", type=int, help="the private redis-server's hz (default: Redis's own, 10)"
    )


def check_foreign(url: str, yes_flush: bool) -> None:
    """Refuse a Redis the bench did not start unless flushing it was allowed explicitly."""
    if not yes_flush:
        raise ForeignRedisRefused(
            f"--redis-url {url}: refusing to use a Redis this benchmark did not start: every "
            "run FLUSHES its database. Pass --yes-flush if that database may be wiped, or "
            "leave --redis-url out to run against a private redis-server."
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisTarget:
    """Where a bench sends its messages. ``url(db)`` on a private server is any index; on a
    foreign one it is always the database given (the bench flushes it between sides)."""

    base_url: str
    private: bool

    def url(self, db: int = 0) -> str:
        if not self.private:
            return self.base_url
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"/{db}"))

    def flush(self, db: int = 0) -> None:
        import redis

        client = redis.Redis.from_url(self.url(db))
        try:
            client.flushdb()
        finally:
            client.close()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"redis-server on port {port} exited {proc.returncode}:\n{log.read_text()[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")
        time.sleep(0.05)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM ends the bench like Ctrl-C does, so ``finally`` blocks stop what it started."""

    def raise_exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, raise_exit)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def private_redis(hz: int | None = None) -> Iterator[RedisTarget]:
    """A throw-away ``redis-server`` on a free port, killed when the block ends."""
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on PATH (or pass --redis-url URL --yes-flush)")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, _sigterm_raises():
        port = free_port()
        log = Path(tmp) / "redis.log"
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", tmp]  # fmt: skip
        if hz is not None:
            argv += ["--hz", str(hz)]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_listening(proc, port, log)
            yield RedisTarget(f"redis://127.0.0.1:{port}/0", private=True)
        finally:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def bench_redis(args: argparse.Namespace) -> Iterator[RedisTarget]:
    """The Redis the parsed ``args`` (see :func:`add_redis_args`) ask for."""
    if args.redis_url:
        check_foreign(args.redis_url, args.yes_flush)
        with _sigterm_raises():
            yield RedisTarget(args.redis_url, private=False)
        return
    with private_redis(getattr(args, "redis_hz", None)) as target:
        yield target


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a minute to exit cleanly, then SIGKILL (a bench's daemon under test)."""
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_line() -> str:
    """The machine's load average and CPU count, printed beside every table."""
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"load average {load} (1/5/15 min), nproc {len(os.sched_getaffinity(0))}"
