"""Soak test: two beats, three workers, random kills, exact counts of fires and tasks.

    python bench/soak.py [--minutes 10] [--redis-url URL --yes-flush] [--every-entries 50]
        [--cron-entries 5] [--chaos-interval 30] [--workdir DIR] [--seed N]

Runs two `beat` daemons (same schedules, same Redis, separate ``-s`` state files) and three
`worker -c 2` processes. A chaos loop kills a random one of the five every ~``--chaos-interval``
seconds (``kill -9`` of its whole process group, or SIGTERM) and restarts it a moment later.
At the end the chaos stops, everything is restarted and left to drain, then stopped.

How the counts are exact: a private ``redis-server`` (default; ``--redis-url`` uses another
server, whose database is flushed: it needs ``--yes-flush``) is watched with MONITOR for the
whole run. MONITOR shows the commands Lua scripts run, so every message the broker
*accepted* is seen as enqueue.lua's ``HSET`` of its id into the queue's ``msg`` hash (a
refused duplicate writes nothing), and every state a worker recorded is seen as an
``HSET beat:status:<id>``. Nothing in beat or worker is patched.

- fires expected: every scheduled instant of every entry in the window (T0, T1], T0 = both
  beats up + 2 s, T1 = the chaos stops; entries use ``catch_up: all`` and a long ``grace`` so
  every instant in the window must be sent (catch-up is the point of the exercise).
- enqueued: ids in the window whose message the broker accepted; duplicated: ids accepted more
  than once; lost: expected ids never accepted.
- tasks executed: STARTED records (a delivery handed to the pool); executed more than once:
  ids started more than once (allowed: at least once); recorded more than once: ids with more
  than one SUCCESS record; lost: accepted ids with no SUCCESS record after the drain.
- The task itself counts its runs in ``soak:executions`` (a cross-check of STARTED).

The private server is started on a free port with persistence off and uses database 7; the
shared server is not touched (MONITOR on it would slow every other client down).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from benchredis import add_redis_args, bench_redis  # noqa: E402

QUEUE = "soak"
# Interval anchor shared by both beats: same instants, same fire ids, whatever their state.
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
DB = 7

TASKS_MODULE = '''\
"""The soak's task: counts its runs (a cross-check of the STARTED records)."""

import os
import random
import time

import redis

from worker import task

_client = None


@task(name="soak.record")
def record(entry: str) -> int:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["SOAK_RECORD_URL"])
    _client.incr("soak:executions")
    _client.sadd("soak:pids", os.getpid())
    # Long enough that kills land mid-task now and then.
    time.sleep(random.uniform(0.0, 0.3))
    return os.getpid()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Proc:
    """One supervised beat or worker; its log accumulates across restarts."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    cwd: Path
    ready_marker: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts} at {datetime.now(UTC).isoformat()}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own group: kill -9 takes the pool children too
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        marker = f"=== start {self.starts - 1} at"
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if self.ready_marker in text.rsplit(marker, 1)[-1]:
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{text[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout}s")

    def kill9(self) -> None:
        if self.proc is not None and self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> None:
        if self.proc is None or not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} ignored SIGTERM for {timeout}s: kill -9", flush=True)
            self.kill9()
        # Pool children of a cleanly stopped worker are gone; make sure of it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


# --- the MONITOR observer -----------------------------------------------------------------------

_LINE = re.compile(r"^\+?(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$")
_ARG = re.compile(r'"((?:\\.|[^"\\])*)"')
_ATTEMPT = re.compile(r'attempt\\":(\d+)')


@dataclass
class Observed:
    """What MONITOR showed: accepted enqueues and recorded states, per message id."""

    enqueued: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)
    succeeded: Counter[str] = field(default_factory=Counter)
    retried_payloads: int = 0
    lines: int = 0


class Monitor(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(name="monitor", daemon=True)
        import redis

        self._client: Any = redis.Redis.from_url(url)
        self.observed = Observed()
        self._halt = threading.Event()
        self.error: BaseException | None = None
        self._msg_key = f"beat:{{q:{QUEUE}}}:msg"
        self.ready = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        conn = self._client.connection_pool.get_connection("MONITOR")
        try:
            conn.send_command("MONITOR")
            conn.read_response()  # OK
            self.ready.set()
            while not self._halt.is_set():
                if not conn.can_read(timeout=0.2):
                    continue
                line = conn.read_response()
                self._line(line.decode() if isinstance(line, bytes) else str(line))
        except BaseException as e:  # reported at the end: the counts would be incomplete
            self.error = e
        finally:
            conn.disconnect()

    def _line(self, line: str) -> None:
        m = _LINE.match(line)
        if m is None or int(m.group(2)) != DB:
            return
        self.observed.lines += 1
        rest = m.group(4)
        if not rest.startswith('"HSET"') and not rest.startswith('"hset"'):
            return
        args = _ARG.findall(rest)
        if len(args) < 4:
            return
        key = args[1]
        if key == self._msg_key:
            # enqueue.lua writes only accepted messages; settle.lua rewrites a retry (attempt+1).
            for i in range(2, len(args) - 1, 2):
                attempt = _ATTEMPT.search(args[i + 1])
                if attempt is not None and attempt.group(1) != "0":
                    self.observed.retried_payloads += 1
                else:
                    self.observed.enqueued[args[i]] += 1
        elif key.startswith("beat:status:"):
            task_id = key.removeprefix("beat:status:")
            fields = dict(zip(args[2::2], args[3::2], strict=False))
            state = fields.get("state")
            if state == "STARTED":
                self.observed.started[task_id] += 1
            elif state == "SUCCESS":
                self.observed.succeeded[task_id] += 1


# --- schedules ----------------------------------------------------------------------------------


def write_config(path: Path, every_entries: int, cron_entries: int) -> dict[str, str]:
    """schedules.yaml for the soak; returns entry name -> 'every' or 'cron'."""
    kinds: dict[str, str] = {}
    lines = [
        "defaults:",
        f"  queue: {QUEUE}",
        "  catch_up: all",
        "  grace: 1h",
        "entries:",
    ]
    schedules = {
        "every": ["every: 2s", f"start: {ANCHOR.isoformat()}"],
        "cron": ['cron: "* * * * *"'],
    }
    for kind, count in (("every", every_entries), ("cron", cron_entries)):
        for i in range(count):
            name = f"{kind}-{i:03d}"
            kinds[name] = kind
            lines += [f"  {name}:", "    task: soak.record"]
            lines += [f"    {line}" for line in [*schedules[kind], f"args: [{name}]"]]
    path.write_text("\n".join(lines) + "\n")
    return kinds


def instants(kind: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Scheduled instants in (after, until] of an `every: 2s` or a `* * * * *` entry."""
    step = timedelta(seconds=2) if kind == "every" else timedelta(minutes=1)
    k = (after - ANCHOR) // step + 1
    t = ANCHOR + k * step
    while t <= until:
        yield t
        t += step


def fire_id(name: str, when: datetime) -> str:
    return f"{name}@{int(when.timestamp() * 1000)}"


# --- the run ------------------------------------------------------------------------------------


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    add_redis_args(parser)
    parser.add_argument("--every-entries", type=int, default=50)
    parser.add_argument("--cron-entries", type=int, default=5)
    parser.add_argument("--chaos-interval", type=float, default=30.0)
    parser.add_argument(
        "--chaos",
        choices=["mixed", "leader"],
        default="mixed",
        help="mixed: a random beat or worker; leader: always the beat holding the lease",
    )
    parser.add_argument(
        "--lease", default="5s", help="worker lease (a killed task returns after it)"
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--seed", type=int)
    return parser.parse_args()


def main() -> None:
    opts = _parse_args()

    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="beat-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with _redis_for(opts) as url:
        _run(opts, workdir, url)


def _run(opts: argparse.Namespace, workdir: Path, url: str) -> None:
    rng = random.Random(opts.seed)
    import redis

    client: Any = redis.Redis.from_url(url)
    client.flushdb()
    print(f"soak: workdir {workdir}, redis {url}, {opts.minutes} min", flush=True)

    config = workdir / "soak.yaml"
    kinds = write_config(config, opts.every_entries, opts.cron_entries)
    (workdir / "soak_tasks.py").write_text(TASKS_MODULE)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SOAK_RECORD_URL": url,
    }
    py = sys.executable
    beats = [
        Proc(f"beat{i}", [py, "-m", "beat", "-s", str(workdir / f"beat{i}.db"), "--config",
             str(config), "--broker", url], workdir / f"beat{i}.log", env, workdir,
             "beat started")
        for i in range(2)
    ]  # fmt: skip
    workers = [
        Proc(f"worker{i}", [py, "-m", "worker", "--broker", url, "-A", "soak_tasks", "-c", "2",
             "-Q", QUEUE, "--lease", opts.lease, "--shutdown-timeout", "5s", "-n",
             f"soak-worker{i}"], workdir / f"worker{i}.log", env, workdir, " ready: ")
        for i in range(3)
    ]  # fmt: skip
    procs = beats + workers

    monitor = Monitor(url)
    monitor.start()
    monitor.ready.wait(10)
    chaos: Counter[str] = Counter()
    events: list[tuple[datetime, str, int, str]] = []
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_ready()
        t0 = datetime.now(UTC) + timedelta(seconds=2)
        end = time.monotonic() + opts.minutes * 60
        print(f"soak: all up; window starts {t0.isoformat()}", flush=True)
        while time.monotonic() < end:
            time.sleep(min(max(0.0, end - time.monotonic()),
                           rng.uniform(0.5, 1.5) * opts.chaos_interval))  # fmt: skip
            if time.monotonic() >= end:
                break
            _chaos_round(opts, rng, beats, procs, chaos, events)
            if monitor.error is not None:
                raise RuntimeError(f"MONITOR failed: {monitor.error!r}")
        t1 = datetime.now(UTC)
        print(f"soak: chaos stopped at {t1.isoformat()}; draining", flush=True)
        for p in procs:
            if not p.alive():
                p.start()
                p.wait_ready(60)

        expected = {
            fire_id(name, when) for name, kind in kinds.items() for when in instants(kind, t0, t1)
        }
        _drain(monitor, expected, opts.drain_timeout, beats, workers)
    finally:
        for p in procs:
            p.kill9()
        monitor.stop()
        monitor.join(5)

    if monitor.error is not None:
        print(f"soak: MONITOR failed, counts incomplete: {monitor.error!r}", flush=True)
    report(monitor.observed, expected, t0, t1, chaos, int(client.get("soak:executions") or 0))
    report_takeovers(events, beats)
    print(f"soak: logs in {workdir}", flush=True)
    tracebacks = {p.name: p.log_path.read_text(errors="replace").count("Traceback") for p in procs}
    print(f"soak: tracebacks in logs: {tracebacks}", flush=True)
    client.close()


@contextlib.contextmanager
def _redis_for(opts: argparse.Namespace) -> Iterator[str]:
    """A private redis-server's database DB, or the one given (flushed: needs --yes-flush)."""
    with bench_redis(opts) as target:
        yield target.url(DB)


def _chaos_round(
    opts: argparse.Namespace,
    rng: random.Random,
    beats: list[Proc],
    procs: list[Proc],
    chaos: Counter[str],
    events: list[tuple[datetime, str, int, str]],
) -> None:
    """Kill or stop one process, wait a little, start it again."""
    victim = rng.choice(procs)
    if opts.chaos == "leader":
        victim = current_leader(beats) or rng.choice(beats)
    how = rng.choice(["kill9", "term"])
    began = time.monotonic()
    assert victim.proc is not None
    events.append((datetime.now(UTC), victim.name, victim.proc.pid, how))
    if how == "kill9":
        victim.kill9()
    else:
        victim.terminate()
    chaos[f"{victim.name[:-1]} {how}"] += 1
    time.sleep(rng.uniform(0.5, 3.0))
    victim.start()
    victim.wait_ready(60)
    print(f"  {datetime.now(UTC):%H:%M:%S} {how} {victim.name}: back after "
          f"{time.monotonic() - began:.1f}s", flush=True)  # fmt: skip


def _drain(
    monitor: Monitor, expected: set[str], timeout: float, beats: list[Proc], workers: list[Proc]
) -> None:
    """Wait for the window's fires to be enqueued and done, then stop beats, then workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = monitor.observed
        missing = expected - set(seen.enqueued)
        # Only the window's: the running beats keep sending (and the lookahead holds the
        # next second's fires back as delayed), so "everything finished" never holds.
        unfinished = (set(seen.enqueued) & expected) - set(seen.succeeded)
        if not missing and not unfinished:
            break
        time.sleep(1)
    for p in beats:
        p.terminate()
    time.sleep(3)  # let workers take what the beats sent while stopping
    drain_end = time.monotonic() + 30
    while time.monotonic() < drain_end:
        if not set(monitor.observed.enqueued) - set(monitor.observed.succeeded):
            break
        time.sleep(0.5)
    for p in workers:
        p.terminate()
    time.sleep(0.5)


# "leader: acquired lease token=3 (host:pid:nonce)" (beat/leader.py); absent without a lease.
_ACQUIRED = re.compile(r"^(\S+) \S+ \S+ leader: acquired lease token=(\d+) \(([^)]*)\)")


def leader_history(beats: list[Proc]) -> list[tuple[datetime, int, int]]:
    """(when, token, pid) of every lease acquisition in the beats' logs, oldest first."""
    out = []
    for p in beats:
        for line in p.log_path.read_text(errors="replace").splitlines():
            m = _ACQUIRED.match(line)
            if m:
                holder = m.group(3).split(":")
                pid = int(holder[1]) if len(holder) > 1 and holder[1].isdigit() else -1
                out.append((datetime.fromisoformat(m.group(1)), int(m.group(2)), pid))
    return sorted(out)


def current_leader(beats: list[Proc]) -> Proc | None:
    history = leader_history(beats)
    if not history:
        return None
    pid = history[-1][2]
    return next((p for p in beats if p.proc is not None and p.proc.pid == pid and p.alive()), None)


def report_takeovers(events: list[tuple[datetime, str, int, str]], beats: list[Proc]) -> None:
    """For each chaos action on the beat that led: how long until another beat led."""
    history = leader_history(beats)
    if not history:
        print("  takeovers: no leader lease in the beats' logs")
        return
    lines = []
    for at, name, pid, how in events:
        before = [h for h in history if h[0] <= at]
        if not name.startswith("beat") or not before or before[-1][2] != pid:
            continue
        after = [h for h in history if h[0] > at]
        took = f"{(after[0][0] - at).total_seconds():.2f} s" if after else "never"
        lines.append((how, took))
    print(f"  takeovers after the leader was stopped ({len(lines)}):")
    for how in ("kill9", "term"):
        times = [float(t.split()[0]) for h, t in lines if h == how and t != "never"]
        never = sum(1 for h, t in lines if h == how and t == "never")
        if times or never:
            print(
                f"    {how}: n={len(times)} min {min(times, default=0):.2f} s, "
                f"max {max(times, default=0):.2f} s, "
                f"mean {sum(times) / max(1, len(times)):.2f} s"
                + (f", never: {never}" if never else "")
            )


def report(
    seen: Observed,
    expected: set[str],
    t0: datetime,
    t1: datetime,
    chaos: Counter[str],
    task_runs: int,
) -> None:
    enqueued = set(seen.enqueued)
    in_window = enqueued & expected
    rows = [
        ("window", f"{t0:%H:%M:%S} .. {t1:%H:%M:%S} UTC ({(t1 - t0).total_seconds():.0f} s)"),
        ("chaos actions", ", ".join(f"{k}: {v}" for k, v in sorted(chaos.items())) or "none"),
        ("fires expected (window)", len(expected)),
        ("fires enqueued (window)", len(in_window)),
        ("fires enqueued (all, incl. outside window)", len(enqueued)),
        ("fires duplicated (accepted twice)", sum(1 for n in seen.enqueued.values() if n > 1)),
        ("fires lost (expected, never enqueued)", len(expected - enqueued)),
        ("tasks executed (STARTED records)", sum(seen.started.values())),
        ("task runs counted by the task", task_runs),
        ("tasks executed more than once", sum(1 for n in seen.started.values() if n > 1)),
        ("tasks recorded SUCCESS more than once", sum(1 for n in seen.succeeded.values() if n > 1)),
        ("tasks lost (enqueued, no SUCCESS)", len(enqueued - set(seen.succeeded))),
        ("retry rewrites seen", seen.retried_payloads),
        ("MONITOR lines (db 7)", seen.lines),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    lost = sorted(expected - enqueued)[:10]
    if lost:
        print(f"  first lost fires: {lost}")
    twice = sorted(i for i, n in seen.succeeded.items() if n > 1)[:10]
    if twice:
        print(f"  recorded twice, e.g.: {twice}")
    print(flush=True)


if __name__ == "__main__":
    main()
