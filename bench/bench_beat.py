"""Beat dispatch, beat vs Celery beat 5.7: lateness to claimable, and fire to task start.

    python bench/bench_beat.py aligned|spread [-n 1000] [--celery-n N] [--minutes 1]
        [--seconds S] [--lookahead 3s] [--warmup M] [--overlap allow|skip|buffer_one] [--settle]
        [--drain | --observe] [--celery-python PY]
        [--redis-url URL --yes-flush]

Each scheduler in turn runs N entries on its own private Redis (bench/benchredis.py), same N
for both unless ``--celery-n`` says otherwise:

- aligned: every entry on ``* * * * *`` (Celery: ``crontab()``), so all N fall due together
  at each minute boundary: a burst every minute.
- spread: entry i fires once a minute at second i mod 60 (beat: ``every: 60s`` with a
  ``start`` at that second; Celery: a schedule class in this module with the same rule), so
  the N fires are spread over the minute.

Measured over ``--minutes`` minutes (spread: or ``--seconds``) starting at the first boundary
(aligned) or whole second (spread) at least 5 s after the scheduler logged that it is ready:

- default: lateness to *claimable*. A claim loop in this process takes messages as fast as
  the broker gives them out (beat: ``claim_many`` of up to 1,000, which also moves due
  messages from the delayed set to ready, as a worker's claim does; Celery: ``RPOP`` of up to
  1,000 from its list), polling every 2 ms when nothing is there. A fire's lateness is the
  time the claim that took it returned (every fire of a batch alike: an upper bound) minus its
  scheduled instant: a fire enqueued ahead with the instant as
  its eta is not claimable, so not counted, before the instant.
- ``--observe``: lateness to *ready*, with nothing claiming (beat only): the total length of
  the queue's ready lists is polled every ms, and the k-th message to become ready is paired
  with the k-th fire in instant order (messages become ready in eta order). This is when a
  worker *could* claim each fire, apart from how fast one claim loop takes them.
- ``--overlap skip`` with ``--settle`` (compare with ``--overlap allow --settle``): the claim
  loop also acks every fire as SUCCESS, so the next burst finds the previous fires over, as
  with workers keeping up; without it every fire stays STARTED and skip rightly skips them.
- ``--drain``: fire to task *start*, with real workers draining (``worker -c 2 -P prefork``;
  ``celery worker -c 2 -P prefork``): the task appends the wall time it started to a file.

The scheduled instant of a claim or start is the entry's latest instant at or before it
(plus 1 s of slack for an early claim, which would be a bug): exact while a fire is under
59 s late; fires still unclaimed at the end are counted apart and as late as the end (a lower
bound). The scheduler's CPU (utime + stime from /proc) over the window is a share of one core.
Celery is a benchmark-only extra, in its own virtualenv (``--celery-python``).

This module is also the task module of both sides' workers and Celery's app (``BENCH_ROLE``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from benchredis import RedisTarget, add_redis_args, bench_redis, load_line, stop_process  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
START_MARGIN_S = 5.0  # start-up (and the lookahead right after it) is not measured
SLACK_S = 1.0  # a claim up to this early is attributed to the coming instant
QUEUE = "bench"


def _record_start(offset: int) -> None:
    """The task of both sides: append "start offset" to $BENCH_STARTS (one small O_APPEND
    write per task, atomic between the pool processes)."""
    line = f"{time.time():.6f} {offset}\n".encode()
    fd = os.open(os.environ["BENCH_STARTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


if os.environ.get("BENCH_ROLE") == "celery":
    from datetime import datetime

    from celery import Celery
    from celery.schedules import crontab, schedstate, schedule

    class at_second(schedule):  # named like Celery's own schedule helpers
        """Due once a minute, at second ``second`` (what beat's ``every: 60s`` with a start
        at that second does): Celery's crontab has no seconds field."""

        def __init__(self, second: int, **kwargs: Any) -> None:
            self.second = second
            super().__init__(run_every=timedelta(seconds=60), **kwargs)

        def is_due(self, last_run_at: datetime) -> schedstate:
            now = self.now()
            base = now.replace(microsecond=0)
            latest = base - timedelta(seconds=(base.second - self.second) % 60)
            wait = (latest + timedelta(seconds=60) - now).total_seconds()
            return schedstate(self.maybe_make_aware(last_run_at) < latest, wait)

        def __reduce__(self) -> tuple[Any, ...]:
            return self.__class__, (self.second,)

    celery_app = Celery("benchbeat", broker=os.environ["BENCH_REDIS_URL"])
    celery_app.conf.worker_hijack_root_logger = False
    celery_app.conf.beat_max_loop_interval = 1
    _n, _kind = int(os.environ.get("BENCH_N", "0")), os.environ.get("BENCH_KIND", "aligned")
    celery_app.conf.beat_schedule = {
        f"e{i}": (
            {"task": "bench.fire", "schedule": crontab(), "args": (0,)}
            if _kind == "aligned"
            else {"task": "bench.fire", "schedule": at_second(i % 60), "args": (i % 60,)}
        )
        for i in range(_n)
    }

    @celery_app.task(name="bench.fire")
    def celery_fire(offset: int) -> None:
        _record_start(offset)

elif os.environ.get("BENCH_ROLE") == "worker":
    from worker.registry import task

    @task(name="bench.fire", queue=QUEUE)
    def fire(offset: int) -> None:
        _record_start(offset)


@dataclass
class Run:
    label: str
    n: int
    expected: int
    late: list[float]  # seconds, one per fire seen in the window
    unclaimed: int
    cpu_share: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def instant_of(t: float, offset: int) -> float:
    """The latest instant at second ``offset`` of a minute at or before ``t`` + the slack."""
    ahead = t + SLACK_S
    return ahead - ((ahead - offset) % 60.0)


def window_start(ready_at: float, kind: str, margin: float = START_MARGIN_S) -> float:
    after = ready_at + margin
    return (math.floor(after / 60) + 1) * 60.0 if kind == "aligned" else float(math.ceil(after))


def window_seconds(args: argparse.Namespace) -> float:
    if args.workload == "spread" and args.seconds:
        return float(args.seconds)
    return 60.0 * args.minutes


def expected_fires(n: int, kind: str, w0: float, w1: float) -> int:
    """Fires of the N entries whose instant is in [w0, w1) (whole seconds)."""
    if kind == "aligned":
        return n * sum(1 for t in range(int(w0), int(w1)) if t % 60 == 0)
    per_second = [0] * 60
    for i in range(n):
        per_second[i % 60] += 1
    return sum(per_second[t % 60] for t in range(int(w0), int(w1)))


def _env(redis_url: str, role: str, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(BENCH_DIR), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "BENCH_ROLE": role, "BENCH_REDIS_URL": redis_url,
            **extra}  # fmt: skip


# --- the claim loops (one per broker) ---------------------------------------------------------
def beat_claimer(url: str, settle: bool = False) -> Callable[[], list[int]]:
    """``settle``: each claimed fire is also acked as SUCCESS (one settle_many a batch), so its
    task state is final, as a worker would leave it (``overlap: skip`` reads it)."""
    from taskqueue.message import Message
    from taskqueue.records import AckAction, Settlement, TaskState, TaskStatus
    from taskqueue.urls import open_broker

    broker: Any = open_broker(url)

    def claim() -> list[int]:
        got = broker.claim_many([QUEUE], "bench-claimer", timedelta(hours=1), timedelta(0), 1000)
        offsets = [int(Message.decode(d.payload).args[0]) for d in got]
        if settle and got:
            done = [
                Settlement(d, AckAction(), TaskStatus(d.message_id, "bench.fire",
                                                      TaskState.SUCCESS, 1))
                for d in got
            ]  # fmt: skip
            broker.settle_many(done)
        return offsets

    return claim


def celery_claimer(url: str) -> Callable[[], list[int]]:
    import redis

    client = redis.Redis.from_url(url)

    def claim() -> list[int]:
        raw = client.rpop("celery", 1000) or []
        out = []
        for item in raw:
            body = json.loads(b64decode(json.loads(item)["body"]))
            out.append(int(body[0][0]))
        return out

    return claim


def ready_counter(url: str) -> Callable[[], int]:
    """The number of ready messages of QUEUE (every priority list), one pipelined read."""
    import redis

    from taskqueue.keys import KeySpace

    client = redis.Redis.from_url(url)
    lists = KeySpace().queue(QUEUE).ready

    def count() -> int:
        pipe = client.pipeline(transaction=False)
        for key in lists:
            pipe.llen(key)
        return sum(pipe.execute())

    return count


def observe_loop(count: Callable[[], int], until: float) -> list[tuple[float, int]]:
    """(time, ready count) at every change of the count until ``until``."""
    seen: list[tuple[float, int]] = []
    last = -1
    while time.time() < until:
        n = count()
        if n != last:
            seen.append((time.time(), n))
            last = n
        time.sleep(0.001)
    return seen


def fire_instants(n: int, kind: str, w0: float, w1: float) -> list[float]:
    """The instants of the fires in [w0, w1), in order (see expected_fires)."""
    out: list[float] = []
    for t in range(int(w0), int(w1)):
        k = (n if t % 60 == 0 else 0) if kind == "aligned" else n // 60 + (t % 60 < n % 60)
        out += [float(t)] * k
    return out


def observed_lateness(
    changes: list[tuple[float, int]], base: int, instants: list[float]
) -> list[float]:
    """The k-th message to become ready (after ``base`` were) against the k-th instant."""
    late: list[float] = []
    for t, n in changes:
        while len(late) < min(n - base, len(instants)):
            late.append(t - instants[len(late)])
    return late


def claim_loop(claim: Callable[[], list[int]], until: float) -> list[tuple[float, int]]:
    seen: list[tuple[float, int]] = []
    while time.time() < until:
        got = claim()
        now = time.time()
        seen.extend((now, offset) for offset in got)
        if not got:
            time.sleep(0.002)
    return seen


def read_starts(path: Path) -> list[tuple[float, int]]:
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines() if line.strip())
    return [(float(t), int(o)) for t, o in rows]


# --- the schedulers ---------------------------------------------------------------------------
def write_beat_config(path: Path, n: int, kind: str, url: str, overlap: str = "allow") -> None:
    with path.open("w") as f:
        f.write(f"broker: {url}\ndefaults:\n  queue: {QUEUE}\n  catch_up: none\n")
        f.write(f"  overlap: {overlap}\nentries:\n")
        # One flow mapping a line: 1,000,000 entries stay under beat's 64 MiB file limit.
        for i in range(n):
            if kind == "aligned":
                when, offset = "cron: '* * * * *'", 0
            else:
                offset = i % 60
                when = f"every: 60s, start: '2026-01-01T00:00:{offset:02d}Z'"
            f.write(f"  e{i}: {{task: bench.fire, {when}, args: [{offset}]}}\n")


def beat_commands(
    args: argparse.Namespace, n: int, url: str, tmp: Path
) -> tuple[list[str], list[str], dict[str, str]]:
    config = tmp / "schedules.yaml"
    write_beat_config(config, n, args.workload, url, args.overlap)
    scheduler = [sys.executable, "-m", "beat", "-s", str(tmp / "schedule.db"),
                 "--config", str(config), "--lookahead", args.lookahead]  # fmt: skip
    worker = [sys.executable, "-c", "from worker.cli import main; main()", "--broker", url,
              "-Q", QUEUE, "-A", "bench_beat", "-c", "2", "-P", "prefork",
              "-l", "warning"]  # fmt: skip
    return scheduler, worker, _env(url, "worker", BENCH_STARTS=str(tmp / "starts"))


def celery_commands(
    args: argparse.Namespace, n: int, url: str, tmp: Path
) -> tuple[list[str], list[str], dict[str, str]]:
    py = args.celery_python
    scheduler = [py, "-m", "celery", "-A", "bench_beat:celery_app", "beat",
                 "-s", str(tmp / "celerybeat-schedule"), "-l", "info"]  # fmt: skip
    worker = [py, "-m", "celery", "-A", "bench_beat:celery_app", "worker", "-c", "2",
              "-P", "prefork", "-l", "warning", "--without-gossip", "--without-mingle",
              "--without-heartbeat"]  # fmt: skip
    env = _env(url, "celery", BENCH_N=str(n), BENCH_KIND=args.workload,
               BENCH_STARTS=str(tmp / "starts"))  # fmt: skip
    return scheduler, worker, env


def wait_ready(log: IO[str], proc: subprocess.Popen[bytes], line: str, label: str) -> float:
    """Wait for the scheduler's start-up line in its log (every entry loaded and indexed)."""
    started = time.time()
    while True:
        log.seek(0)
        text = log.read()
        if line in text:
            print(f"{label}: started in {time.time() - started:.2f} s", flush=True)
            return time.time()
        if proc.poll() is not None:
            raise RuntimeError(f"{label} exited during start-up:\n{text[-3000:]}")
        time.sleep(0.1)


def run_side(args: argparse.Namespace, side: str, n: int, target: RedisTarget) -> Run:
    target.flush()
    url = target.url()
    commands = beat_commands if side == "beat" else celery_commands
    label = (
        f"beat (lookahead {args.lookahead}, {args.overlap})"
        if side == "beat"
        else "celery beat 5.7"
    )
    ready_line = "beat started" if side == "beat" else "beat: Starting"
    with tempfile.TemporaryDirectory(prefix="bench-beat-") as tmp_name:
        tmp = Path(tmp_name)
        scheduler_cmd, worker_cmd, env = commands(args, n, url, tmp)
        log = (tmp / "scheduler.log").open("w+")
        procs = []
        try:
            if args.drain:
                procs.append(  # stdout: Celery's banner; warnings and errors go to stderr
                    subprocess.Popen(worker_cmd, env=env, cwd=BENCH_DIR, stdout=subprocess.DEVNULL)
                )
            scheduler = subprocess.Popen(
                scheduler_cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=BENCH_DIR
            )
            procs.append(scheduler)
            ready_at = wait_ready(log, scheduler, ready_line, label)
            return measure(args, side, label, n, url, scheduler, ready_at, tmp / "starts")
        finally:
            for proc in reversed(procs):
                stop_process(proc)
            report_errors(log, label)


def measure(
    args: argparse.Namespace,
    side: str,
    label: str,
    n: int,
    url: str,
    scheduler: subprocess.Popen[bytes],
    ready_at: float,
    starts: Path,
) -> Run:
    margin = START_MARGIN_S
    if side == "beat" and args.workload == "aligned":
        # A burst too large for the lookahead starts earlier (beat.early_push): the first one
        # measured is one the beat had that long for, as every later one has.
        from beat.early_push import EarlyPush
        from taskqueue.durations import parse_duration

        lookahead = parse_duration(args.lookahead, "--lookahead", allow_zero=True)
        margin += EarlyPush(lookahead).lead(n).total_seconds()
    w0 = window_start(ready_at, args.workload, margin) + 60.0 * args.warmup
    w1 = w0 + window_seconds(args)
    # Aligned: stop before the next burst, whose fires would be taken for the last one's.
    until = w1 - SLACK_S - 0.5 if args.workload == "aligned" else w1 + args.grace
    claim = beat_claimer(url, args.settle) if side == "beat" else celery_claimer(url)
    if args.observe:
        return observe(args, label, n, url, scheduler, w0, w1, until)
    if args.drain:
        while time.time() < w0 - 1.0:
            time.sleep(0.05)
    else:
        claim_loop(claim, w0 - 1.0)  # fires before the window: taken, not counted
    cpu0, wall0 = cpu_seconds(scheduler.pid), time.time()
    if args.drain:
        while time.time() < until:
            time.sleep(0.1)
        seen = read_starts(starts)
    else:
        seen = claim_loop(claim, until)
    share = (cpu_seconds(scheduler.pid) - cpu0) / (time.time() - wall0)
    late = []
    for t, offset in seen:
        instant = instant_of(t, offset)
        if w0 <= instant < w1:
            late.append(t - instant)
    expected = expected_fires(n, args.workload, w0, w1)
    unclaimed = max(0, expected - len(late))
    if unclaimed:  # as late as the end of the run, at least
        late += [until - w1 + 60.0 if args.workload == "aligned" else until - w1] * unclaimed
    return Run(label, n, expected, late, unclaimed, share)


def observe(
    args: argparse.Namespace,
    label: str,
    n: int,
    url: str,
    scheduler: subprocess.Popen[bytes],
    w0: float,
    w1: float,
    until: float,
) -> Run:
    """--observe: lateness to ready, nothing claiming (see the module docstring)."""
    count = ready_counter(url)
    while time.time() < w0 - 0.5:
        time.sleep(0.01)
    base = count()
    cpu0, wall0 = cpu_seconds(scheduler.pid), time.time()
    changes = observe_loop(count, until)
    share = (cpu_seconds(scheduler.pid) - cpu0) / (time.time() - wall0)
    instants = fire_instants(n, args.workload, w0, w1)
    late = observed_lateness(changes, base, instants)
    unclaimed = len(instants) - len(late)
    if unclaimed:  # as late as the end of the run, at least
        late += [until - instants[len(late) + i] for i in range(unclaimed)]
    return Run(label, n, len(instants), late, unclaimed, share)


def report_errors(log: IO[str], label: str) -> None:
    log.seek(0)
    errors = [line for line in log if "ERROR" in line or "Traceback" in line]
    if errors:
        print(f"{label} logged {len(errors)} errors, first: {errors[0].strip()}")
    log.seek(0)
    # Beat's own account of each large push (how long the burst took to reach the broker);
    # a dispatch of over 100 fires logs one (spread: one a second), so only bursts are shown.
    marker = "INFO beat.dispatch: dispatched "
    for line in log:
        if marker in line and int(line.split(marker)[1].split()[0]) >= 5000:
            print(f"{label}: {line.strip()}")


# --- report -----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    what = "fire to task start (workers -c 2 prefork draining)" if args.drain else "to claimable"
    if args.observe:
        what = "to ready (nothing claiming)"
    kind = "'* * * * *'" if args.workload == "aligned" else "spread over the minute"
    window = f"{window_seconds(args):.0f} s window"
    print(f"\n{args.workload}: entries on {kind}, {window}, lateness {what}")
    print(f"{load_line()}")
    print(f"{'scheduler':<34}{'N':>9}{'fires':>9}{'missed':>7}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'max ms':>10}{'CPU %':>7}{'p99 / beat':>12}")  # fmt: skip
    base = pct(runs[0].late, 0.99) if runs else float("nan")
    for run in runs:
        p99 = pct(run.late, 0.99)
        ratio = f"{p99 / base:.1f}x" if base > 0 else "n/a"
        print(
            f"{run.label:<34}{run.n:>9}{run.expected:>9}{run.unclaimed:>7}"
            f"{pct(run.late, 0.5) * 1000:>10.1f}{p99 * 1000:>10.1f}{max(run.late) * 1000:>10.1f}"
            f"{100 * run.cpu_share:>7.1f}{ratio:>12}"
        )
    print("missed: fires not claimed/started by the end (counted as late as the end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("workload", choices=["aligned", "spread"])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--celery-n", type=int, help="Celery's N (default: the same N)")
    parser.add_argument("--minutes", type=int, default=1)
    parser.add_argument(
        "--seconds", type=int, help="spread: the window's length (default: --minutes)"
    )
    parser.add_argument("--grace", type=float, default=10.0, help="spread: seconds after")
    parser.add_argument("--lookahead", default="3s")
    parser.add_argument(
        "--warmup", type=int, default=0,
        help="aligned: minutes not measured after start-up (a burst due while the beat was "
        "starting is sent late, and at 1,000,000 entries keeps it busy into the next minute)",
    )  # fmt: skip
    # overlap: skip decides each fire at its instant from the previous fire's task state (no
    # lookahead), so it is measured against allow (issue 15's done-when figure).
    parser.add_argument("--overlap", choices=["allow", "skip", "buffer_one"], default="allow")
    parser.add_argument(
        "--settle", action="store_true", help="beat: ack each claimed fire as SUCCESS"
    )
    parser.add_argument("--drain", action="store_true", help="fire to start, real workers")
    parser.add_argument("--observe", action="store_true", help="lateness to ready, no claims")
    parser.add_argument("--no-beat", action="store_true", help="run Celery's side only")
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    add_redis_args(parser)
    args = parser.parse_args()
    runs = []
    with bench_redis(args) as target:
        if not args.no_beat:
            runs.append(run_side(args, "beat", args.n, target))
        if args.celery_python:
            runs.append(run_side(args, "celery", args.celery_n or args.n, target))
    report(args, runs)


if __name__ == "__main__":
    main()
