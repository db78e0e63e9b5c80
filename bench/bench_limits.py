"""Time-limit precision of the prefork and thread pools (no broker involved).

    python bench/bench_limits.py [--runs 20] [--soft 0.2] [--hard 0.3]

Soft: a task busy in Python code records the wall time at which ``SoftTimeLimitExceeded``
reached it; lateness = that time - submit time - soft limit. Hard: a task that ignores the soft
limit and sleeps in C code; lateness is measured twice: when the monitor sent SIGKILL (the
outcome's ``finished_at``) and when the consumer-side ``wait()`` returned the ``TIME_LIMIT``
outcome (death noticed, process reaped). Submit time is taken just before ``submit``, so the
figures include the hand-over to the child: they are upper bounds. Also reports the pool-only
no-op throughput at concurrency 2. ``--busy-parent`` runs a CPU-bound Python thread in the
parent meanwhile (as a busy consumer would), so the monitor thread must win the GIL back.

Targets (SPEC section 11): soft within 10 ms, hard within 50 ms (Celery 5.7: 2 ms / 106 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TASKS_DIR = REPO / "tests" / "worker"
for entry in (str(REPO), str(TASKS_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from worker.pool import Job, Outcome, OutcomeKind, Pool  # noqa: E402
from worker.pools import make_pool  # noqa: E402
from worker.registry import REGISTRY  # noqa: E402

TASK_MODULE = "pool_tasks"  # tests/worker/pool_tasks.py: pool.timed_soft, pool.timed_hard


def _one(pool: Pool, job: Job, timeout: float = 30.0) -> tuple[Outcome, float, float]:
    """(outcome, submit wall time, wall time wait() returned it)."""
    deadline = time.monotonic() + timeout
    while pool.free_slots() < 1:  # a replacement process may still be booting
        if time.monotonic() > deadline:
            raise RuntimeError("no free slot")
        pool.wait(0.01)
    submitted = time.time()
    pool.submit(job)
    while True:
        for outcome in pool.wait(1.0):
            if outcome.job_id == job.id:
                return outcome, submitted, time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job.id} did not finish")


def soft_lateness(pool: Pool, runs: int, soft: float, workdir: Path) -> list[float]:
    task = REGISTRY.get("pool.timed_soft")
    lateness = []
    for i in range(runs):
        marks = workdir / f"soft-{uuid.uuid4().hex}"
        outcome, submitted, _ = _one(pool, Job(f"s{i}", task, (str(marks),), {}, soft, soft * 10))
        if outcome.kind is not OutcomeKind.SOFT_TIME_LIMIT:
            raise RuntimeError(f"soft run {i}: {outcome}")
        _, caught = (float(x) for x in marks.read_text().split())
        lateness.append(caught - submitted - soft)
    return lateness


def hard_lateness(pool: Pool, runs: int, hard: float, workdir: Path) -> tuple[list[float], ...]:
    task = REGISTRY.get("pool.timed_hard")
    killed, noticed = [], []
    for i in range(runs):
        marks = workdir / f"hard-{uuid.uuid4().hex}"
        outcome, submitted, returned = _one(pool, Job(f"h{i}", task, (str(marks),), {}, None, hard))
        if outcome.kind is not OutcomeKind.TIME_LIMIT or outcome.finished_at is None:
            raise RuntimeError(f"hard run {i}: {outcome}")
        killed.append(outcome.finished_at.timestamp() - submitted - hard)
        noticed.append(returned - submitted - hard)
    return killed, noticed


def noop_rate(pool: Pool, n: int) -> float:
    task = REGISTRY.get("pool.noop")
    sent = done = 0
    started = time.perf_counter()
    while done < n:
        while sent < n and pool.free_slots() > 0:
            pool.submit(Job(str(sent), task))
            sent += 1
        done += len(pool.wait(1.0))
    return n / (time.perf_counter() - started)


def _spin() -> None:
    while True:
        sum(range(1000))


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.2f} ms   max {max(values) * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--soft", type=float, default=0.2)
    parser.add_argument("--hard", type=float, default=0.3)
    parser.add_argument("--noop", type=int, default=20000)
    parser.add_argument("--busy-parent", action="store_true")
    args = parser.parse_args()
    if args.busy_parent:
        threading.Thread(target=_spin, daemon=True).start()
    import pool_tasks  # noqa: F401  (registers the tasks in this process)

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for kind in ("prefork", "threads"):
            pool: Any = make_pool(kind, 2, modules=[TASK_MODULE])
            pool.start()
            try:
                rows.append(
                    (
                        f"{kind}: soft limit lateness",
                        _ms(soft_lateness(pool, args.runs, args.soft, workdir)),
                    )
                )
                killed, noticed = hard_lateness(pool, args.runs, args.hard, workdir)
                what = "SIGKILL sent" if kind == "prefork" else "abandoned"
                rows.append((f"{kind}: hard limit, {what}", _ms(killed)))
                rows.append((f"{kind}: hard limit, outcome returned", _ms(noticed)))
                rows.append(
                    (
                        f"{kind}: no-op jobs, -c 2, no broker",
                        f"{noop_rate(pool, args.noop):,.0f} jobs/s",
                    )
                )
            finally:
                pool.stop(1.0)
    busy = ", busy parent" if args.busy_parent else ""
    print(f"runs={args.runs} soft={args.soft}s hard={args.hard}s{busy} (targets: 10 ms / 50 ms)")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
