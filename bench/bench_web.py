"""The dashboard's response time per page with 10,000 entries and 100,000 task states.

    .venv/bin/python bench/bench_web.py [--entries 10000] [--tasks 100000] [--runs 30]
        [--broker redis://127.0.0.1:6379/32]      # default: a SQLite queue in the scratch dir
        [--folder DIR]                            # reuse (or build once into) DIR
        [--live]                                  # a beat's writes meanwhile (see below)

Builds, in a scratch directory: a schedules.yaml of --entries entries (cron, interval and
calendar schedules across several zones); the run state a beat leaves after firing each of
them once (schedule.db, with its fire log; one entry has 100 fires of history), so every
entries row looks its last fire's outcome up; --tasks task states in the broker (SUCCESS for
each entry's last fire, the rest QUEUED/SUCCESS/FAILURE) and dead letters. Then starts
`beat web`, waits until it accepts connections (it warms its caches before it listens: the
start-up time is printed) and requests each page and its /api twin: the first request
(cold: nothing of that page asked yet) apart, then --runs more: median, 95th and 99th
percentile and max in ms, and the server's CPU time per request (user+sys of the `beat web`
process, from /proc: the machine may be shared, so read the wall times with the load
average printed beside them). Target (issue 16): every page under 100 ms, the first too.

--live: meanwhile, as a running beat does, 20 entries fire once a second each (their last
fire moves on, with a fire-log line): the run state changes between requests, so the pages
re-read it and the timeline is recomputed for what changed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
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


def live_beat(folder: Path, config_path: Path, stop: threading.Event) -> None:
    """Fire 20 interval entries once a second (each to its next scheduled instant) until
    ``stop``: the run state's writes a beat makes."""
    from beat.config import load_config
    from beat.planner import upcoming
    from beat.state import FireRecord, StateStore
    from taskqueue.message import fire_id

    entries = load_config(config_path).entries
    store = StateStore(str(folder / "schedule.db"))
    states = store.load()
    names = [n for n in list(entries)[1::4] if n in states][:20]  # "every:" entries
    try:
        while not stop.wait(1.0):
            fires = [(n, next(upcoming(entries[n], states[n]))) for n in names]
            now = datetime.now(UTC)
            store.record_fires(
                fires, now, [FireRecord(n, at, fire_id(n, at), "sent") for n, at in fires]
            )
            states = {**states, **{n: replace(states[n], last_fire=at) for n, at in fires}}
    finally:
        store.close()


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


def cpu_ms(pid: int) -> float:
    """User+sys CPU time of process ``pid`` so far, in ms (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def build(folder: Path, args: argparse.Namespace) -> tuple[Path, str]:
    """The scratch directory's schedules.yaml and the name of the entry with a history."""
    config = folder / "schedules.yaml"
    marker = folder / "built"
    if marker.exists():
        return config, marker.read_text()
    broker = args.broker or f"sqlite:///{folder / 'queue.db'}"
    if broker.startswith("redis"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    now = datetime.now(UTC)
    print(f"scratch {folder}; broker {broker.split('://')[0]}; building ...", flush=True)
    started = time.perf_counter()
    write_config(folder, args.entries, broker)
    fires = write_state(folder, config, now)
    fill_broker(broker, fires, args.tasks)
    print(
        f"  {args.entries} entries, {len(fires)} fired, {args.tasks} task states "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    marker.write_text(next(iter(fires)))
    return config, next(iter(fires))


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> float:
    """Seconds until the server accepts a connection (no HTTP request: the first one is a
    page's)."""
    started = time.perf_counter()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.perf_counter() - started
        except OSError:
            if time.perf_counter() - started > 120 or proc.poll() is not None:
                raise
            time.sleep(0.05)


def measure(base: str, url: str, runs: int, pid: int) -> str:
    cpu0 = cpu_ms(pid)
    first = timed_get(base + url)  # the cold one: nothing of this page asked before
    cpu1 = cpu_ms(pid)
    runs_cpu = []  # (wall, server CPU) of each run: is a slow one our CPU, or a wait?
    for _ in range(runs):
        before = cpu_ms(pid)
        runs_cpu.append((timed_get(base + url), cpu_ms(pid) - before))
    times = sorted(wall for wall, _ in runs_cpu)
    per_run = sum(cpu for _, cpu in runs_cpu) / runs
    slowest_cpu = max(runs_cpu)[1]

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(len(times) * q))]

    return (
        f"{url:38} {first:7.1f} {cpu1 - cpu0:6.0f} {statistics.median(times):7.1f} "
        f"{pct(0.95):7.1f} {pct(0.99):7.1f} {times[-1]:7.1f} {slowest_cpu:6.0f} "
        f"{per_run:6.1f}  {os.getloadavg()[0]:4.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--broker", default=None, help="default: a SQLite queue file")
    parser.add_argument("--folder", type=Path, default=None, help="reuse or build once here")
    parser.add_argument("--live", action="store_true", help="a beat's state writes meanwhile")
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-web-"))
    folder.mkdir(parents=True, exist_ok=True)
    config, some = build(folder, args)

    port = free_port()
    argv = [*BEAT, "-s", str(folder / "schedule.db"), "web", "--config", str(config)]
    argv += ["--port", str(port), "-l", "warning"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    print(f"load average before: {os.getloadavg()}", flush=True)
    proc = subprocess.Popen(argv, cwd=folder, env=env)
    stop = threading.Event()
    base = f"http://127.0.0.1:{port}"
    try:
        up = wait_listening(port, proc)
        print(f"start-up: listening after {up:.2f} s, {cpu_ms(proc.pid):.0f} ms CPU")
        if args.live:
            writer = threading.Thread(target=live_beat, args=(folder, config, stop), daemon=True)
            writer.start()
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
        print(
            f"{'page':38} {'first':>7} {'cpu':>6} {'median':>7} {'p95':>7} {'p99':>7} "
            f"{'max':>7} {'cpu':>6} {'cpu':>6}  load\n{'':38} (ms: the first request, its "
            f"server CPU; then {args.runs} runs: percentiles, the slowest and its server CPU, "
            f"mean server CPU per run; 1-min load average)"
        )
        for page in pages:
            for url in (page, "/api" + page) if page not in api_only else ("/api" + page,):
                print(measure(base, url, args.runs, proc.pid), flush=True)
        print(f"load average after: {os.getloadavg()}")
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
