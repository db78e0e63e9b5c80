"""The dashboard's response time per page with 10,000 entries and 100,000 task states.

    .venv/bin/python bench/bench_web.py [--entries 10000] [--tasks 100000] [--runs 30]
        [--broker redis://127.0.0.1:6379/32]      # default: a SQLite queue in the scratch dir

Builds, in a scratch directory: a schedules.yaml of --entries entries (cron, interval and
calendar schedules across several zones); the run state a beat leaves after firing each of
them once (schedule.db, with its fire log; one entry has 100 fires of history), so every
entries row looks its last fire's outcome up; --tasks task states in the broker (SUCCESS for
each entry's last fire, the rest QUEUED/SUCCESS/FAILURE) and dead letters. Then starts
`beat web` and requests each page and its /api twin --runs times, printing the first
request's time (it fills the caches: the configuration, the run state, the timeline's
fires), then median, 95th percentile and max in ms, and the load average (the machine may
be shared: read the figures with it). Target (issue 16): every page under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
BEAT = [sys.executable, "-m", "beat"]


def schedule(i: int) -> str:
    zone = ZONES[i % len(ZONES)]
    kind = i % 4
    if kind == 0:
        return f'cron: "{i % 60} {i % 24} * * *", timezone: {zone}'
    if kind == 1:
        return f"every: {60 + i % 3600}s"
    if kind == 2:
        return f'cron: "*/{5 + i % 25} * * * *", timezone: {zone}'
    return f'calendar: {{every: 1w, at: "0{i % 10}:30", start: 2026-01-05}}, timezone: {zone}'


def write_config(folder: Path, n: int, broker: str) -> Path:
    lines = ["timezone: UTC", f"broker: {broker}", "entries:"]
    lines += [f"  e{i:05d}: {{task: log, {schedule(i)}}}" for i in range(n)]
    path = folder / "schedules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_state(folder: Path, config_path: Path, now: datetime) -> dict[str, datetime]:
    """The run state after each entry fired once, an hour ago at most: {name: last fire}."""
    from beat.config import load_config
    from beat.planner import first_state, upcoming
    from beat.state import StateStore

    config = load_config(config_path)
    store = StateStore(str(folder / "schedule.db"))
    seen = now - timedelta(days=2)
    states = [first_state(e, seen, None) for e in config.entries.values()]
    store.upsert_new(states)
    fires: dict[str, datetime] = {}
    for entry, state in zip(config.entries.values(), states, strict=True):
        fire = next(upcoming(entry, state, after=now - timedelta(hours=1)), None)
        if fire is not None and fire <= now:
            fires[entry.name] = fire
    from beat.state import FireRecord
    from taskqueue.message import fire_id

    log = [FireRecord(n, at, fire_id(n, at), "sent") for n, at in fires.items()]
    store.record_fires(list(fires.items()), now, log)
    # The entry whose page is measured has a full history (the entry page shows 50 fires).
    name, last = next(iter(fires.items()))
    older = [last - timedelta(minutes=k) for k in range(1, 100)]
    store.log_fires([FireRecord(name, at, fire_id(name, at), "sent") for at in older], now)
    store.close()
    return fires


def fill_broker(url: str, fires: dict[str, datetime], tasks: int) -> None:
    from taskqueue.message import Message, fire_id
    from taskqueue.records import TaskState, TaskStatus
    from taskqueue.urls import open_broker

    broker = open_broker(url)
    ids = [fire_id(name, at) for name, at in fires.items()]
    ids += [f"bench-{i}" for i in range(tasks - len(ids))]
    states = (TaskState.SUCCESS, TaskState.QUEUED, TaskState.FAILURE)
    now = datetime.now(UTC)
    for i, task_id in enumerate(ids):
        state = TaskState.SUCCESS if i < len(fires) else states[i % 3]
        broker.set_status(
            TaskStatus(task_id, "log", state, 1, started_at=now, finished_at=now, error=None)
        )
    for i in range(200):  # something for the dead letters page
        broker.enqueue_once(Message(id=f"dead-{i}", task="no.such.task", queue="default"))
    broker.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        resp.read()
        assert resp.status == 200, (url, resp.status)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--broker", default=None, help="default: a SQLite queue file")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    broker = args.broker or f"sqlite:///{folder / 'queue.db'}"
    if broker.startswith("redis"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    now = datetime.now(UTC)
    print(f"scratch {folder}; broker {broker.split('://')[0]}; building ...", flush=True)
    started = time.perf_counter()
    config = write_config(folder, args.entries, broker)
    fires = write_state(folder, config, now)
    fill_broker(broker, fires, args.tasks)
    print(
        f"  {args.entries} entries, {len(fires)} fired, {args.tasks} task states "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )

    port = free_port()
    argv = [*BEAT, "-s", str(folder / "schedule.db"), "web", "--config", str(config)]
    argv += ["--port", str(port), "-l", "warning"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(argv, cwd=folder, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                timed_get(base + "/api/leader")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        some = next(iter(fires))
        pages = [
            "/entries",
            "/entries?q=e0999",
            "/entries?offset=9900",
            f"/entries/{some}",
            "/timeline",
            "/queues",
            "/dead",
            "/workers",
            "/leader",
            "/tasks/bench-50000",
        ]
        api_only = {f"/entries/{some}/history"}
        pages += sorted(api_only)
        print(f"load average before: {os.getloadavg()}")
        print(
            f"{'page':38} {'first':>8} {'median':>8} {'p95':>8} {'max':>8}  "
            f"(ms; first: the page's first request, then {args.runs} runs)"
        )
        for page in pages:
            for url in (page, "/api" + page) if page not in api_only else ("/api" + page,):
                first = timed_get(base + url)  # the cold one: caches filled here
                times = sorted(timed_get(base + url) for _ in range(args.runs))
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                print(
                    f"{url:38} {first:8.1f} {statistics.median(times):8.1f} {p95:8.1f} "
                    f"{times[-1]:8.1f}",
                    flush=True,
                )
        print(f"load average after: {os.getloadavg()}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
