"""Worker throughput: no-op tasks at concurrency 2, beat's worker vs Celery, same Redis.

    python bench/bench_worker.py [-n 20000] [--celery-python /path/to/python-with-celery]
        [--no-sqlite] [--redis-url URL --yes-flush]

Redis is a private ``redis-server`` started for the run (bench/benchredis.py). For each pool
(prefork, threads) and broker (Redis, then a fresh SQLite file unless ``--no-sqlite``): flush
the bench database, enqueue N messages, start a worker with ``-c 2``
and time the drain: from the first message leaving the queue to the last one settled
(acked). Every side runs ``--rounds`` times, the sides interleaved, and the median is shown
with the range: on a shared machine one run of each is not enough. Celery 5.7 prefork at
``-c 2`` runs the same workload on the same Redis if a Python with celery is available
(``--celery-python``; celery is a benchmark-only extra, best kept out of the project's
environment). Prints one table with rates and ratios.

This module is also the task module of the benchmark workers (``-A bench_worker``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from benchredis import RedisTarget, add_redis_args, bench_redis, load_line  # noqa: E402

if os.environ.get("BENCH_ROLE") == "celery":
    from celery import Celery

    celery_app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
    celery_app.conf.worker_hijack_root_logger = False

    @celery_app.task(name="bench.noop")
    def celery_noop() -> None:
        return None

elif os.environ.get("BENCH_ROLE") != "driver":
    from worker.registry import task

    @task(name="bench.noop")
    def noop() -> None:
        return None


def _env(redis_url: str, role: str) -> dict[str, str]:
    path = os.pathsep.join([str(BENCH_DIR), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "BENCH_ROLE": role, "BENCH_REDIS_URL": redis_url}


def _drain(
    proc: subprocess.Popen[bytes], remaining: Any, total: int, limit_s: float, poll_s: float = 0.01
) -> float:
    """Tasks/s from the first message taken to none left (ready or in flight), looking every
    ``poll_s`` (the look itself costs the machine something)."""
    deadline = time.monotonic() + limit_s
    while remaining() >= total:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("worker did not start taking messages")
        time.sleep(0.002)
    t0, left0 = time.monotonic(), remaining()
    while remaining() > 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker stopped with {remaining()} left")
        time.sleep(poll_s)
    elapsed = time.monotonic() - t0
    return left0 / elapsed if elapsed else float("inf")


def bench_beat_worker(target: RedisTarget | None, broker_url: str, pool: str, n: int) -> float:
    from taskqueue.message import Message
    from taskqueue.urls import open_broker

    if broker_url.startswith("sqlite:///"):
        Path(broker_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    elif target is not None:
        target.flush()
    broker = open_broker(broker_url)
    batch = 1000
    for start in range(0, n, batch):
        broker.enqueue_many(
            [Message(id=uuid.uuid4().hex, task="bench.noop") for _ in range(min(batch, n - start))]
        )

    def remaining() -> int:
        stats = {q.name: q for q in broker.queue_stats()}["default"]
        return stats.ready + stats.in_flight

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from worker.cli import main; main()",
            "--broker",
            broker_url,
            "-A",
            "bench_worker",
            "-c",
            "2",
            "-P",
            pool,
            "-l",
            "warning",
        ],
        env=_env(broker_url, "worker"),
        cwd=BENCH_DIR,
    )
    # SQLite's queue_stats counts every row: polled every 10 ms it would take a good part of
    # one of the machine's CPUs away from the worker being measured.
    poll_s = 0.05 if broker_url.startswith("sqlite") else 0.01
    try:
        return _drain(proc, remaining, n, 600, poll_s)
    finally:
        proc.terminate()
        proc.wait(60)
        broker.close()


def send_celery_noops(client: Any, redis_url: str, python: str, n: int) -> Callable[[], int]:
    """Queue ``n`` ``bench.noop`` tasks for celery; returns how many are still queued or unacked."""
    # Enqueue with celery's own client so the messages are exactly what celery expects.
    send = (
        "import bench_worker as b\n"
        "with b.celery_app.producer_or_acquire() as p:\n"
        f"    [b.celery_app.send_task('bench.noop', producer=p) for _ in range({n})]\n"
    )
    subprocess.run([python, "-c", send], env=_env(redis_url, "celery"), cwd=BENCH_DIR, check=True)

    def remaining() -> int:
        return int(client.llen("celery")) + int(client.hlen("unacked"))

    return remaining


def bench_celery(target: RedisTarget, python: str, n: int) -> float:
    import redis

    redis_url = target.url()
    target.flush()
    client = redis.Redis.from_url(redis_url)
    remaining = send_celery_noops(client, redis_url, python, n)

    proc = subprocess.Popen(
        [
            python,
            "-m",
            "celery",
            "-A",
            "bench_worker:celery_app",
            "worker",
            "-c",
            "2",
            "-P",
            "prefork",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=_env(redis_url, "celery"),
        cwd=BENCH_DIR,
        stdout=subprocess.DEVNULL,  # Celery's banner; warnings and errors go to stderr
    )
    try:
        return _drain(proc, remaining, n, 600)
    finally:
        proc.terminate()
        proc.wait(60)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20_000)
    add_redis_args(parser)
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite broker rows")
    parser.add_argument("--rounds", type=int, default=3, help="each side this often, interleaved")
    args = parser.parse_args()
    os.environ["BENCH_ROLE"] = "driver"
    rates: dict[str, list[float]] = {}
    with bench_redis(args) as target, tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        for _ in range(args.rounds):  # interleaved: a load spike hits every side alike
            for label, measure in _sides(args, target, Path(tmp)):
                rates.setdefault(label, []).append(measure())
        where = target.url() if not target.private else "private redis-server"
    celery = statistics.median(rates[CELERY_LABEL]) if CELERY_LABEL in rates else None
    print(f"\nno-op tasks, N={args.n}, {args.rounds} rounds interleaved, Redis: {where}")
    print(load_line())
    print(f"{'worker':<35}{'median/s':>10}{'min-max':>14}{'vs celery':>11}")
    for label, values in rates.items():
        rate = statistics.median(values)
        ratio = f"{rate / celery:.2f}x" if celery else "n/a"
        spread = f"{min(values):.0f}-{max(values):.0f}"
        print(f"{label:<35}{rate:>10.0f}{spread:>14}{ratio:>11}")


CELERY_LABEL = "celery 5.7 prefork -c 2"


def _sides(
    args: argparse.Namespace, target: RedisTarget, tmp: Path
) -> list[tuple[str, Callable[[], float]]]:
    """(label, run it once) for every side, in the order each round runs them."""
    sides: list[tuple[str, Callable[[], float]]] = []
    for pool in ("prefork", "threads"):
        sides.append(
            (
                f"beat worker {pool} -c 2",
                partial(bench_beat_worker, target, target.url(), pool, args.n),
            )
        )
    if not args.no_sqlite:
        url = f"sqlite:///{tmp}/queue.db"
        for pool in ("prefork", "threads"):
            sides.append(
                (
                    f"beat worker {pool} -c 2 sqlite",
                    partial(bench_beat_worker, None, url, pool, args.n),
                )
            )
    if args.celery_python:
        sides.append((CELERY_LABEL, partial(bench_celery, target, args.celery_python, args.n)))
    return sides


if __name__ == "__main__":
    main()
