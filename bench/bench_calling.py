"""Calling API: ``add.delay(1, 1).get()`` round trip and ``apply_async`` producer rate,
beat vs Celery 5.7, on one private Redis started (and stopped) by this script.

    python bench/bench_calling.py [-n 2000] [--calls 10000]
        [--celery-python /path/to/python-with-celery] [--profile FILE]
        [--redis-url URL --yes-flush]

Each side in turn, with only its own worker running (``worker -c 2 -P prefork``; ``celery -A
bench_calling:celery_app worker -c 2 -P prefork``, result backend on the same Redis, another
database index): a producer process (beat's: this Python; Celery's: ``--celery-python``)
makes 100 warm-up round trips (the first waits for the worker to start), then ``-n``
sequential round trips, each timed from calling ``.delay()`` to ``.get()`` returning (what the
caller feels), then ``--calls`` back-to-back ``apply_async((1, 1))`` calls, timed as a whole
(the worker drains them meanwhile, as it would in production).

Batches: ``apply_async`` is one call, one message, one round trip on both sides. The batch
form of both calling APIs is ``group(...).apply_async()``, timed on both sides with groups of
1,000 ``add.s(1, 1)`` members (``--calls`` members in all): beat sends a group's members in one
batch (one round trip), Celery publishes them one by one.

Beat's timed round trips are also split into legs, from the final status the worker wrote
(read after the timing): send to pool, pool to outcome collected, collected to ``get``
returning. ``--profile FILE`` runs beat's producer under cProfile and writes its stats to FILE.
Each side's worker CPU (user + system of its parent and pool processes, over the whole run) is
shown per task. ``--redis-hz`` sets the private server's ``hz`` (default Redis's 10): Redis
times out a blocking command only at its next tick, so a short BLPOP timeout lasts up to 1/hz.

The Redis is private (bench/benchredis.py: a free port, persistence off), so no shared
database is touched; ``--redis-url`` uses another one (both sides in turn on the database
given, flushed before each) and needs ``--yes-flush``. This module is also the task module
of both workers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from benchredis import add_redis_args, bench_redis, load_line, stop_process  # noqa: E402

WARMUP = 100
BATCH = 1000

if os.environ.get("BENCH_ROLE") == "celery":
    from celery import Celery

    _url = os.environ["BENCH_REDIS_URL"]
    celery_app = Celery("bench", broker=_url, backend=_url)
    celery_app.conf.worker_hijack_root_logger = False

    @celery_app.task(name="bench.add")
    def celery_add(x: int, y: int) -> int:
        return x + y

elif os.environ.get("BENCH_ROLE") in ("worker", "beat"):
    from worker.registry import task

    @task(name="bench.add")
    def add(x: int, y: int) -> int:
        return x + y


def _env(redis_url: str, role: str) -> dict[str, str]:
    path = os.pathsep.join([str(BENCH_DIR), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "BENCH_ROLE": role, "BENCH_REDIS_URL": redis_url}


# --- producers (run in a child process, print one JSON line) -------------------------------


def _round_trips(call: Any, n: int) -> tuple[list[float], list[tuple[float, float, Any]]]:
    """Seconds per ``call()`` (a delay + get returning the result handle), after the warm-up;
    and per call (wall time before, wall time after, the handle) for :func:`_legs`."""
    call(60.0)  # the worker may still be starting
    for _ in range(WARMUP - 1):
        call(30.0)
    times, samples = [], []
    for _ in range(n):
        w0, t0 = time.time(), time.perf_counter()
        handle = call(30.0)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        samples.append((w0, w0 + (t1 - t0), handle))
    return times, samples


def _rate(send: Any, calls: int) -> float:
    t0 = time.perf_counter()
    send(calls)
    return calls / (time.perf_counter() - t0)


def _send_rates(add: Any, group: Any, calls: int) -> dict[str, float]:
    """Calls per second sending ``calls`` tasks one by one, then in groups of BATCH: ``add``
    and ``group`` are beat's worker API or Celery's (the same calls)."""

    def send(k: int) -> None:
        for _ in range(k):
            add.apply_async((1, 1))

    def send_batches(k: int) -> None:
        for start in range(0, k, BATCH):
            group([add.s(1, 1) for _ in range(min(BATCH, k - start))]).apply_async()

    return {"rate": _rate(send, calls), "batch_rate": _rate(send_batches, calls)}


def produce_beat(n: int, calls: int) -> dict[str, Any]:
    from worker import configure, group

    configure(broker=os.environ["BENCH_REDIS_URL"])

    def round_trip(timeout: float) -> Any:
        result = add.delay(1, 1)
        assert result.get(timeout=timeout) == 2
        return result

    times, samples = _round_trips(round_trip, n)
    return {"rt": times, "legs": _legs(samples), **_send_rates(add, group, calls)}


def _legs(samples: list[tuple[float, float, Any]]) -> dict[str, tuple[float, float]]:
    """(p50, p99) ms of each leg of beat's timed round trips, from the final status the worker
    wrote, read once all were timed: ``started_at`` is when the worker handed the job to its
    pool, ``finished_at`` when its loop collected the outcome (the task itself takes
    microseconds), then the settle, the done notification and ``get`` waking up."""
    legs: dict[str, list[float]] = {"send_to_pool": [], "pool_to_collected": [], "to_get": []}
    for w0, w1, result in samples:
        status = result.status()
        started, finished = status.started_at.timestamp(), status.finished_at.timestamp()
        legs["send_to_pool"].append(started - w0)
        legs["pool_to_collected"].append(finished - started)
        legs["to_get"].append(w1 - finished)
    return {leg: (_pct(v, 50) * 1000, _pct(v, 99) * 1000) for leg, v in legs.items()}


def produce_celery(n: int, calls: int) -> dict[str, Any]:
    from celery import group

    def round_trip(timeout: float) -> Any:
        result = celery_add.delay(1, 1)
        assert result.get(timeout=timeout) == 2
        return None  # not kept: Celery's handles would hold their result subscriptions

    times, _ = _round_trips(round_trip, n)
    return {"rt": times, **_send_rates(celery_add, group, calls)}


# --- driver --------------------------------------------------------------------------------


def run_side(
    worker_cmd: list[str], producer_cmd: list[str], redis_url: str, role: str
) -> dict[str, Any]:
    """Start the side's worker, run its producer, stop the worker; the producer's figures."""
    from profile_worker import _tree_cpu  # the driver's only (it imports bench_worker)

    worker = subprocess.Popen(  # stdout: Celery's banner; warnings and errors go to stderr
        worker_cmd, env=_env(redis_url, role), cwd=BENCH_DIR, stdout=subprocess.DEVNULL
    )
    try:
        out = subprocess.run(
            producer_cmd, env=_env(redis_url, role), cwd=BENCH_DIR, check=True,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        # The worker's CPU (parent and pool processes, user + system) over the whole run:
        # start-up, every round trip and every apply_async/group task.
        worker_cpu_s = sum(_tree_cpu(worker.pid))
    finally:
        stop_process(worker)
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    result["worker_cpu_s"] = worker_cpu_s
    return result


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _table(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    beat, celery = rows["beat"], rows.get("celery")
    print(
        f"\ncalling API, round trip N={args.n}, apply_async N={args.calls}, private Redis, "
        f"{os.cpu_count()} CPUs, workers -c 2 -P prefork"
    )
    print(f"{'measurement':<34}{'beat':>12}{'celery 5.7':>12}{'beat/celery':>13}")
    lines: list[tuple[str, float, float | None, bool]] = []
    for p in (50, 99):
        b = _pct(beat["rt"], p) * 1000
        c = _pct(celery["rt"], p) * 1000 if celery else None
        lines.append((f"delay().get() p{p} ms", b, c, True))
    lines.append(("apply_async calls/s", beat["rate"], celery["rate"] if celery else None, False))
    lines.append(
        (
            f"group of {BATCH}: members/s",
            beat["batch_rate"],
            celery["batch_rate"] if celery else None,
            False,
        )
    )
    for label, b, c, lower_better in lines:
        # "x times better": celery/beat for latencies, beat/celery for rates
        ratio = "n/a" if c is None else f"{(c / b if lower_better else b / c):.2f}x"
        shown = "n/a" if c is None else f"{c:.2f}" if lower_better else f"{c:.0f}"
        value = f"{b:.2f}" if lower_better else f"{b:.0f}"
        print(f"{label:<34}{value:>12}{shown:>12}{ratio:>13}")
    print("ratios are 'times better than celery' (lower latency / higher rate)")
    tasks = WARMUP + args.n + 2 * args.calls
    cpu = {side: row["worker_cpu_s"] * 1e6 / tasks for side, row in rows.items()}
    shown = f"{cpu['celery']:.0f}" if "celery" in cpu else "n/a"
    print(
        f"worker CPU µs per task (user+sys, parent + pool, whole run incl. start-up, "
        f"{tasks} tasks): beat {cpu['beat']:.0f}, celery {shown}"
    )
    legs = ", ".join(f"{leg} {p50:.1f}/{p99:.1f}" for leg, (p50, p99) in beat["legs"].items())
    print(f"beat round trip legs, p50/p99 ms: {legs}")


def _worker_cmds(beat_url: str, celery_python: str | None) -> dict[str, list[str]]:
    """Each side's worker (Celery's finds its broker and backend in $BENCH_REDIS_URL)."""
    beat = [sys.executable, "-c", "from worker.cli import main; main()", "--broker", beat_url,
            "-A", "bench_calling", "-c", "2", "-P", "prefork", "-l", "warning"]  # fmt: skip
    cmds = {"beat": beat}
    if celery_python:
        cmds["celery"] = [
            celery_python, "-m", "celery", "-A", "bench_calling:celery_app", "worker", "-c", "2",
            "-P", "prefork", "-l", "warning", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ]  # fmt: skip
    return cmds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="timed round trips per side")
    parser.add_argument("--calls", type=int, default=10_000, help="apply_async calls per side")
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    add_redis_args(parser)
    parser.add_argument("--profile", help="cProfile beat's producer into this file")
    parser.add_argument("--produce", choices=("beat", "celery"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce = produce_beat if args.produce == "beat" else produce_celery
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(produce, args.n, args.calls)
            profiler.dump_stats(args.profile)
        else:
            result = produce(args.n, args.calls)
        print(json.dumps(result))
        return
    rows: dict[str, dict[str, Any]] = {}
    with bench_redis(args) as target:
        urls = {"beat": target.url(0), "celery": target.url(1)}
        pythons = {"beat": sys.executable, "celery": args.celery_python}
        for side, worker_cmd in _worker_cmds(urls["beat"], args.celery_python).items():
            target.flush(0 if side == "beat" else 1)
            producer = [str(pythons[side]), str(Path(__file__).resolve()), "--produce", side,
                        "-n", str(args.n), "--calls", str(args.calls)]  # fmt: skip
            if side == "beat" and args.profile:
                producer += ["--profile", str(Path(args.profile).resolve())]
            rows[side] = run_side(worker_cmd, producer, urls[side], side)
    _table(rows, args)
    print(load_line())


if __name__ == "__main__":
    main()
