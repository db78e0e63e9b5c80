"""Beat dispatch benchmarks (SPEC section 11), beat vs Celery beat 5.7 on the same Redis.

    python bench/bench_beat.py burst  [-n 100000] [--celery-n 10000] [--window 60]
    python bench/bench_beat.py steady [-n 100000] [--celery-n 1000] [--minutes 3]
        [--redis redis://127.0.0.1:6379/12] [--celery-python /path/to/python-with-celery]
        [--lookahead 1s]

Both workloads use N entries on the cron schedule ``* * * * *``, so all N fall due together at
every minute boundary; nothing consumes the queue. A sampler polls the number of messages in
Redis every few milliseconds; the lateness of a message is the time between its minute boundary
and the first sample that saw it (an upper bound, so the figures are conservative). With beat's
lookahead a fire may be in Redis (delayed until its instant) before the boundary: its lateness
is then 0, since no worker can take it earlier or later than the instant.

- burst: start the beat, wait for the first boundary after it is ready, and report the time
  until all N are in Redis (Celery: how many after ``--window`` seconds).
- steady: run ``--minutes`` boundaries and report p50/p99 lateness over every message and the
  beat process's CPU use (utime + stime from /proc) as a share of one core over the run.

Celery is a benchmark-only extra (``pip install 'beat-scheduler[bench]'`` into a separate
environment; pass its Python with ``--celery-python``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The first measured minute starts at least this long after the scheduler is ready, so that
# start-up (and the 2 s lookahead window right after it) is not counted as lateness.
START_MARGIN_S = 5.0


@dataclass
class Run:
    label: str
    n: int
    boundaries: list[float]
    samples: list[tuple[float, int]]  # (monotonic-equivalent wall time, messages in Redis)
    cpu_s: float
    wall_s: float
    ready_at: float

    def lateness(self) -> list[float]:
        """Per message: seconds from its boundary to the first sample that counted it."""
        out: list[float] = []
        counted = 0
        for k, boundary in enumerate(self.boundaries, start=1):
            target = k * self.n
            for t, count in self.samples:
                if count > counted:
                    late = max(0.0, t - boundary)
                    fresh = min(count, target) - counted
                    if fresh > 0:
                        out.extend([late] * fresh)
                        counted += fresh
                if counted >= target:
                    break
            if counted < target:  # never arrived within the run: count them as the run's end
                out.extend([self.samples[-1][0] - boundary] * (target - counted))
                counted = target
        return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def next_boundary(after: float) -> float:
    return (int(after) // 60 + 1) * 60.0


def sample_until(
    count: Callable[[], int], until: float, stop_at: int | None = None
) -> list[tuple[float, int]]:
    samples: list[tuple[float, int]] = []
    while True:
        now = time.time()
        c = count()
        samples.append((now, c))
        if now >= until or (stop_at is not None and c >= stop_at):
            return samples
        time.sleep(0.003)


# --- beat -------------------------------------------------------------------------------------
def write_beat_config(directory: Path, n: int, redis_url: str) -> Path:
    path = directory / "schedules.yaml"
    with path.open("w") as f:
        f.write(f"broker: {redis_url}\ndefaults:\n  queue: bench\n  catch_up: none\nentries:\n")
        for i in range(n):
            f.write(f"  e{i}:\n    task: bench.noop\n    cron: '* * * * *'\n")
    return path


def run_beat(args: argparse.Namespace, n: int, minutes: int) -> Run:
    import redis

    from taskqueue.urls import open_broker

    redis.Redis.from_url(args.redis).flushdb()
    broker = open_broker(args.redis)

    def count() -> int:
        return sum(q.ready + q.delayed + q.in_flight for q in broker.queue_stats())

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = write_beat_config(directory, n, args.redis)
        log = (directory / "beat.log").open("w+")
        cmd = [
            sys.executable, "-m", "beat", "-s", str(directory / "schedule.db"),
            "--config", str(config), "--lookahead", args.lookahead,
        ]  # fmt: skip
        try:
            ready_at, (boundaries, samples, cpu, wall) = run_measured(
                args, cmd, log, ("beat started", "beat"), count, n, minutes, stderr=log, cwd=REPO
            )
        finally:
            log.seek(0)
            errors = [line for line in log if "ERROR" in line or "Traceback" in line]
            if errors:
                print(f"beat logged {len(errors)} errors, first: {errors[0].strip()}")
    broker.close()
    return Run(f"beat (lookahead {args.lookahead})", n, boundaries, samples, cpu, wall, ready_at)


# --- celery -----------------------------------------------------------------------------------
CELERY_APP = """
import os
from celery import Celery
from celery.schedules import crontab

app = Celery("benchbeat", broker=os.environ["BENCH_REDIS_URL"])
n = int(os.environ["BENCH_N"])
app.conf.beat_schedule = {
    f"e{i}": {"task": "bench.noop", "schedule": crontab()} for i in range(n)
}
app.conf.beat_max_loop_interval = 1
"""


def run_celery(args: argparse.Namespace, n: int, minutes: int) -> Run:
    import redis

    client = redis.Redis.from_url(args.redis)
    client.flushdb()

    def count() -> int:
        return int(client.llen("celery"))

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "benchbeat.py").write_text(textwrap.dedent(CELERY_APP))
        env = {**os.environ, "BENCH_REDIS_URL": args.redis, "BENCH_N": str(n)}
        env["PYTHONPATH"] = str(directory)
        log = (directory / "celery.log").open("w+")
        cmd = [
            args.celery_python, "-m", "celery", "-A", "benchbeat:app", "beat",
            "-s", str(directory / "celerybeat-schedule"), "-l", "info",
        ]  # fmt: skip
        ready_at, (boundaries, samples, cpu, wall) = run_measured(
            args, cmd, log, ("beat: Starting", "celery beat"), count, n, minutes,
            stdout=log, stderr=subprocess.STDOUT, cwd=directory, env=env,
        )  # fmt: skip
    client.close()
    return Run("celery beat 5.7", n, boundaries, samples, cpu, wall, ready_at)


Measurement = tuple[list[float], list[tuple[float, int]], float, float]


def run_measured(
    args: argparse.Namespace,
    cmd: list[str],
    log: IO[str],
    ready: tuple[str, str],
    count: Callable[[], int],
    n: int,
    minutes: int,
    **popen: Any,
) -> tuple[float, Measurement]:
    """Start a scheduler, wait for its ready line (``ready``: the text, the scheduler's name),
    :func:`measure` it, and stop it; (when it was ready, the measurement)."""
    started = time.time()
    proc = subprocess.Popen(cmd, **popen)
    try:
        ready_at = wait_ready(log, proc, started, *ready)
        return ready_at, measure(args, proc, ready_at, count, n, minutes)
    finally:
        proc.terminate()
        proc.wait(60)


def measure(
    args: argparse.Namespace,
    proc: subprocess.Popen[bytes],
    ready_at: float,
    count: Callable[[], int],
    n: int,
    minutes: int,
) -> Measurement:
    """The same measurement for every scheduler: from the first whole minute after start-up,
    the queue length over time and the CPU and wall seconds the scheduler used meanwhile."""
    first = next_boundary(ready_at + START_MARGIN_S)
    boundaries = [first + 60.0 * k for k in range(minutes)]
    while time.time() < first - 2.0:
        time.sleep(0.05)
    cpu0, wall0 = cpu_seconds(proc.pid), time.time()
    end = boundaries[-1] + (args.window if minutes == 1 else 50.0)
    samples = sample_until(count, end, stop_at=n * minutes if minutes == 1 else None)
    return boundaries, samples, cpu_seconds(proc.pid) - cpu0, time.time() - wall0


def wait_ready(
    log: IO[str], proc: subprocess.Popen[bytes], started: float, line: str, label: str
) -> float:
    """Wait for the scheduler's start-up line in its log (every entry loaded and indexed)."""
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{label} exited during start-up:\n{log.read()[-3000:]}")
        log.seek(0)
        if line in log.read():
            now = time.time()
            print(f"{label}: started in {now - started:.2f} s")
            return now
        time.sleep(0.1)


# --- report -----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(kind: str, runs: list[Run], args: argparse.Namespace) -> None:
    print(f"\n{kind}: entries on '* * * * *', Redis {args.redis}, {os.cpu_count()} CPUs")
    if kind == "burst":
        print(
            f"{'scheduler':<26}{'N':>8}{'all in Redis at':>26}{'in Redis at +1s':>17}{'sent/s':>10}"
        )
        for run in runs:
            boundary = run.boundaries[0]
            first = next((t for t, c in run.samples if c > 0), None)
            done = next((t for t, c in run.samples if c >= run.n), None)
            at1 = max((c for t, c in run.samples if t <= boundary + 1.0), default=0)
            last_t, last_c = run.samples[-1]
            if done is not None and first is not None:
                # Negative: the whole burst was in Redis (delayed until its instant) before it.
                took = f"{done - boundary:+.3f} s"
                rate = run.n / max(done - first, 1e-3)
            else:
                took = f"not by +{last_t - boundary:.0f} s ({run.n - last_c} unsent)"
                rate = last_c / max(last_t - (first or boundary), 1e-3)
            print(f"{run.label:<26}{run.n:>8}{took:>26}{at1:>17}{rate:>10.0f}")
    else:
        print(f"{'scheduler':<26}{'N':>8}{'minutes':>8}{'p50 ms':>10}{'p99 ms':>10}"
              f"{'max ms':>10}{'CPU % core':>12}")  # fmt: skip
        for run in runs:
            late = run.lateness()
            print(
                f"{run.label:<26}{run.n:>8}{len(run.boundaries):>8}"
                f"{statistics.median(late) * 1000:>10.1f}{pct(late, 0.99) * 1000:>10.1f}"
                f"{max(late) * 1000:>10.1f}{100 * run.cpu_s / run.wall_s:>12.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=["burst", "steady"])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--celery-n", type=int, default=None)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0, help="burst: seconds to watch")
    parser.add_argument("--lookahead", default="3s")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    minutes = 1 if args.workload == "burst" else args.minutes
    runs = [run_beat(args, args.n, minutes)]
    if args.celery_python:
        celery_n = args.celery_n or (10_000 if args.workload == "burst" else 1_000)
        runs.append(run_celery(args, celery_n, minutes))
    report(args.workload, runs, args)


if __name__ == "__main__":
    main()
