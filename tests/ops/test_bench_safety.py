"""The benchmarks are safe to start: each one's ``--help`` runs, none touches a Redis it did not
start unless told it may flush it, and the private redis-server they start is gone when the
bench ends, also after an exception. (No figures are measured here: benches stay out of the
test suite.)"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.faults import procs

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import benchredis  # noqa: E402

private_redis = procs.private_redis

# The shared modules the benches import (not scripts of their own).
LIBRARIES = {"benchredis.py", "benchcompile.py"}
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in LIBRARIES)
# Every bench that talks to Redis (the others use SQLite or no broker at all).
REDIS_SCRIPTS = [
    "bench_beat.py",
    "bench_calling.py",
    "bench_enqueue.py",
    "bench_limits.py",
    "bench_worker.py",
    "soak.py",
]


def run_script(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / name), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_runs(name: str) -> None:
    done = run_script(name, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


@pytest.mark.parametrize("name", REDIS_SCRIPTS)
def test_foreign_redis_is_refused_without_yes_flush(
    name: str, private_redis: Callable[..., procs.RedisServer]
) -> None:
    server = private_redis(persistent=False)
    client = redis.Redis.from_url(server.url(3))
    client.set("someone-elses", "data")
    extra = ["aligned"] if name == "bench_beat.py" else []
    done = run_script(name, *extra, "--redis-url", server.url(3))
    assert done.returncode != 0
    assert "--yes-flush" in done.stderr, done.stderr
    assert client.get("someone-elses") == b"data"
    client.close()


def test_check_foreign_allows_only_with_yes_flush() -> None:
    with pytest.raises(SystemExit, match="refusing to use a Redis this benchmark did not start"):
        benchredis.check_foreign("redis://127.0.0.1:6379/0", yes_flush=False)
    benchredis.check_foreign("redis://127.0.0.1:6379/0", yes_flush=True)


def test_private_redis_is_killed_after_an_exception() -> None:
    args = argparse.Namespace(redis_url=None, yes_flush=False, redis_hz=None)
    with pytest.raises(RuntimeError, match="bench failed"), benchredis.bench_redis(args) as target:
        url = target.url(5)
        assert target.private and url.endswith("/5")
        redis.Redis.from_url(url).ping()
        raise RuntimeError("bench failed")
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
