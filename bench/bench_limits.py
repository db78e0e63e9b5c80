"""Time-limit precision, beat's worker vs Celery 5.7, measured to the child's death.

    python bench/bench_limits.py [--runs 10] [--soft 0.2] [--hard 0.3]
        [--celery-python PY] [--redis-url URL --yes-flush]

Each side in turn (beat ``worker -c 1 -P prefork``, beat ``-P threads``, ``celery worker -c 1
-P prefork``) on a private Redis (bench/benchredis.py) is given ``--runs`` soft-limit tasks,
then ``--runs`` hard-limit tasks, all enqueued before the worker starts; one at a time
(``-c 1``), so a kill and the pool's replacement process never overlap the next run.

- soft: the task (``soft_time_limit=--soft``, hard limit 10x) spins in Python code and
  records when it started and when ``SoftTimeLimitExceeded`` reached it: lateness = caught -
  started - soft limit.
- hard: the task (``time_limit=--hard``, no soft limit) records when it started and its pid,
  then sleeps in C code, 10 ms at a time, touching a heartbeat file, for at most the limit +
  1 s. This process watches ``/proc/<pid>`` (every 0.5 ms) and takes the time the child was
  gone or a zombie: lateness = death - started - hard limit.

Lateness is from the task's own start: both pools start the clock a little earlier (when the
job is handed to the child), so a figure can be slightly negative, and the hand-over time is
taken off both sides alike.
- threads pool: a thread cannot be killed; the worker reports TIME_LIMIT and abandons it.
  What is measured there is how long the abandoned task kept running past its limit (its
  last heartbeat), which is the honest cost of a hard limit on that pool.

This module is also the task module of both sides' workers (``BENCH_ROLE``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from benchredis import RedisTarget, add_redis_args, bench_redis, load_line  # noqa: E402

RUNAWAY_S = 1.0  # how long a hard-limited task would go on by itself after its limit


def _mark(name: str, text: str) -> None:
    path = Path(os.environ["BENCH_MARKS"]) / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # the watcher never reads half a line


def _soft_body(run: int, exc: type[BaseException]) -> None:
    started = time.time()
    try:
        while True:
            sum(range(50))
    except exc:
        _mark(f"soft-{run}", f"{started} {time.time()}")
        raise


def _hard_body(run: int, exc: type[BaseException]) -> None:
    started = time.time()
    _mark(f"hard-{run}", f"{started} {os.getpid()}")
    limit = float(os.environ["BENCH_HARD"])
    while time.time() < started + limit + RUNAWAY_S:
        with contextlib.suppress(exc):  # a soft limit, if any, is ignored: only a kill ends this
            time.sleep(0.01)
        _mark(f"beat-{run}", f"{time.time()}")


_ROLE = os.environ.get("BENCH_ROLE")
if _ROLE == "celery":
    from celery import Celery
    from celery.exceptions import SoftTimeLimitExceeded as CelerySoft

    celery_app = Celery("benchlimits", broker=os.environ["BENCH_REDIS_URL"])
    celery_app.conf.worker_hijack_root_logger = False
    _soft = float(os.environ["BENCH_SOFT"])

    @celery_app.task(name="limits.soft", soft_time_limit=_soft, time_limit=_soft * 10)
    def celery_soft(run: int) -> None:
        _soft_body(run, CelerySoft)

    @celery_app.task(name="limits.hard", time_limit=float(os.environ["BENCH_HARD"]))
    def celery_hard(run: int) -> None:
        _hard_body(run, CelerySoft)

elif _ROLE == "worker":
    from worker.errors import SoftTimeLimitExceeded
    from worker.registry import task

    _soft = float(os.environ["BENCH_SOFT"])

    @task(name="limits.soft", soft_time_limit=_soft, time_limit=_soft * 10)
    def beat_soft(run: int) -> None:
        _soft_body(run, SoftTimeLimitExceeded)

    @task(name="limits.hard", time_limit=float(os.environ["BENCH_HARD"]))
    def beat_hard(run: int) -> None:
        _hard_body(run, SoftTimeLimitExceeded)


def _env(args: argparse.Namespace, url: str, role: str, marks: Path) -> dict[str, str]:
    path = os.pathsep.join([str(BENCH_DIR), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "BENCH_ROLE": role, "BENCH_REDIS_URL": url,
            "BENCH_SOFT": str(args.soft), "BENCH_HARD": str(args.hard),
            "BENCH_MARKS": str(marks)}  # fmt: skip


def _dead(pid: int) -> bool:
    """Gone, or a zombie (it has stopped running; its parent has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def watch(marks: Path, runs: int, watch_pids: bool, timeout: float) -> dict[int, float]:
    """Until every hard run has started (and, for a process pool, its child died): the wall
    time each child was seen dead, by run."""
    deadline = time.monotonic() + timeout
    deaths: dict[int, float] = {}
    alive: dict[int, int] = {}  # run -> pid
    started = set()
    while len(started) < runs or alive or (watch_pids and len(deaths) < runs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"hard runs: {len(started)} started, {len(deaths)} died in time")
        for run in range(runs):
            if run not in started and (marks / f"hard-{run}").exists():
                started.add(run)
                if watch_pids:
                    alive[run] = int((marks / f"hard-{run}").read_text().split()[1])
        for run, pid in list(alive.items()):
            if _dead(pid):
                deaths[run] = time.time()
                del alive[run]
        time.sleep(0.0005 if alive else 0.005)
    return deaths


def wait_files(marks: Path, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all((marks / n).exists() for n in names):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"missing after {timeout}s: {[n for n in names if not (marks / n).exists()]}"
            )
        time.sleep(0.05)


def enqueue_beat(url: str, runs: int) -> None:
    from taskqueue.message import Message
    from taskqueue.urls import open_broker

    broker: Any = open_broker(url)
    broker.enqueue_many(
        [Message(id=uuid.uuid4().hex, task="limits.soft", args=(i,)) for i in range(runs)]
        + [Message(id=uuid.uuid4().hex, task="limits.hard", args=(i,)) for i in range(runs)]
    )
    broker.close()


def enqueue_celery(python: str, env: dict[str, str], runs: int) -> None:
    send = (
        "import bench_limits as b\n"
        f"[b.celery_app.send_task('limits.soft', args=[i]) for i in range({runs})]\n"
        f"[b.celery_app.send_task('limits.hard', args=[i]) for i in range({runs})]\n"
    )
    subprocess.run([python, "-c", send], env=env, cwd=BENCH_DIR, check=True)


def run_side(args: argparse.Namespace, side: str, target: RedisTarget, tmp: Path) -> list[str]:
    target.flush()
    url = target.url()
    marks = tmp / side.replace(" ", "-")
    marks.mkdir()
    if side.startswith("celery"):
        env = _env(args, url, "celery", marks)
        enqueue_celery(args.celery_python, env, args.runs)
        cmd = [args.celery_python, "-m", "celery", "-A", "bench_limits:celery_app", "worker",
               "-c", "1", "-P", "prefork", "-l", "warning", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]  # fmt: skip
    else:
        env = _env(args, url, "worker", marks)
        enqueue_beat(url, args.runs)
        pool = side.split()[-1]
        cmd = [sys.executable, "-c", "from worker.cli import main; main()", "--broker", url,
               "-A", "bench_limits", "-c", "1", "-P", pool, "-l", "error"]  # fmt: skip
    threads = side.endswith("threads")
    timeout = 60 + args.runs * (args.soft + args.hard + RUNAWAY_S + 2)
    log = (marks / "worker.log").open("wb")  # Celery logs every hard limit as an ERROR
    proc = subprocess.Popen(cmd, env=env, cwd=BENCH_DIR, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_files(marks, [f"soft-{i}" for i in range(args.runs)], timeout)
        deaths = watch(marks, args.runs, not threads, timeout)
        if threads:  # let the abandoned threads run out by themselves
            time.sleep(RUNAWAY_S + 0.5)
    except RuntimeError:
        print((marks / "worker.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    return summarize(args, side, marks, deaths, threads)


def summarize(
    args: argparse.Namespace, side: str, marks: Path, deaths: dict[int, float], threads: bool
) -> list[str]:
    soft = []
    for i in range(args.runs):
        started, caught = (float(x) for x in (marks / f"soft-{i}").read_text().split())
        soft.append(caught - started - args.soft)
    rows = [f"{side:<22}{'soft: raised':<34}{_ms(soft)}"]
    hard_starts = [float((marks / f"hard-{i}").read_text().split()[0]) for i in range(args.runs)]
    if threads:
        ran = [
            float((marks / f"beat-{i}").read_text()) - (hard_starts[i] + args.hard)
            for i in range(args.runs)
        ]
        rows.append(f"{side:<22}{'hard: abandoned, task ran on':<34}{_ms(ran)}")
        rows.append(
            f"{'':<22}(the task returns by itself {RUNAWAY_S:.0f} s after its limit: about "
            f"{RUNAWAY_S * 1000:.0f} ms means nothing stopped it)"
        )
    else:
        dead = [deaths[i] - hard_starts[i] - args.hard for i in range(args.runs)]
        rows.append(f"{side:<22}{'hard: child dead':<34}{_ms(dead)}")
    return rows


def _ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:8.2f} ms  max {max(values) * 1000:8.2f} ms"
        f"  (after the limit, n={len(values)})"
    )


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--soft", type=float, default=0.2)
    parser.add_argument("--hard", type=float, default=0.3)
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    add_redis_args(parser)
    args = parser.parse_args()
    sides = ["beat prefork", "beat threads"] + (["celery prefork"] if args.celery_python else [])
    rows: list[str] = []
    with bench_redis(args) as target, tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        for side in sides:
            rows += run_side(args, side, target, Path(tmp))
    print(f"\ntime limits, -c 1, soft {args.soft}s, hard {args.hard}s, runs {args.runs}")
    print(load_line())
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
