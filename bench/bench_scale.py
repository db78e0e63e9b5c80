"""Memory and start-up of a real beat daemon with very many entries (issue 17, items 2 and 3).

    python bench/bench_scale.py [-n 10000 100000 1000000] [--sql] [--warm]
                                [--profile tracemalloc|cprofile]

For each N: writes a schedules.yaml of N entries (or, with ``--sql``, a schedules.yaml naming a
SQLite ``source:`` table of N rows), starts ``python -m beat`` against a private
``redis-server`` (started here on a free port, removed at the end), and measures:

- time from exec to the "beat started" log line (every entry loaded, stated and indexed);
- the daemon's CPU seconds at that moment (/proc/PID/stat: the machine is shared, wall time
  overstates the cost);
- VmRSS at ready and VmHWM (peak) from /proc/PID/status, and bytes per entry over a beat with
  one entry (the same measurement with N = 1).

The entry mix is a real fleet's: 70% cron (a few dozen expressions, a few zones, so many
entries share one schedule), 25% intervals (a few dozen periods), 5% with kwargs and a queue.

The project's sources are byte-compiled first (``bench/benchcompile.py``): with
``PYTHONDONTWRITEBYTECODE`` set every start would otherwise compile them again (0.2-0.4 s of
CPU that an installed beat never pays after its first run).

``--warm`` starts each beat a second time against the same state, so from the start-up cache
beside it (:mod:`beat.config.startup_cache`), and prints that start's figures on a ``warm`` row.
``--profile tracemalloc`` runs the daemon with ``PYTHONTRACEMALLOC`` and a hook that prints
the top allocation sites (by line) at ready; ``--profile cprofile`` prints the start-up's top
functions by cumulative time. Both slow start-up: their figures are not the bench's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from benchcompile import compile_sources  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

CRONS = [
    "* * * * *",
    "*/5 * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "15 */3 * * *",
    "0 0 1 * *",
    "H * * * *",
    "0 9 L * *",
    "0 12 * * mon#1",
    "45 23 * * 0",
    "10,40 8-18 * * *",
    "5 4 * * sun",
    "0 22 * * 1-5",
    "0 */2 * * *",
]
ZONES = [None, "America/New_York", "Asia/Tokyo", "Europe/Berlin"]
EVERY = ["30s", "1m", "5m", "10m", "1h", "90s", "2h", "15m", "45s", "12h"]


def spec(i: int) -> dict[str, str | None]:
    """Entry ``i``'s settings (strings, as YAML scalars and SQL columns take them)."""
    out: dict[str, str | None] = {"task": f"app.t{i % 50}"}
    if i % 4 == 3:
        out["every"] = EVERY[i % len(EVERY)]
    else:
        out["cron"] = CRONS[i % len(CRONS)]
        out["timezone"] = ZONES[(i // 7) % len(ZONES)]
    if i % 20 == 0:
        out["queue"] = "reports"
        out["kwargs"] = f'{{"id": {i}}}'
    return out


def write_yaml(path: Path, n: int, redis_url: str, source: str | None) -> None:
    """One line per entry (flow style): 1,000,000 entries stay under beat's 64 MiB bound."""
    with path.open("w") as f:
        f.write(f"broker: {redis_url}\ntimezone: UTC\n")
        if source is not None:
            f.write(f"source: {source}\n")
        f.write("defaults:\n  catch_up: none\nentries:\n")
        for i in range(n if source is None else 1):
            items = ", ".join(
                f"{key}: {value if key == 'kwargs' or ' ' not in value else repr(value)}"
                for key, value in spec(i).items()
                if value is not None
            )
            f.write(f"  e{i}: {{{items}}}\n")


def write_sqlite(path: Path, n: int) -> None:
    """The source table, created by beat's own schema code, filled with plain sqlite3 (fast)."""
    from beat.sources.sql.schema import ensure_schema, entries_table, make_engine

    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    engine.dispose()
    from beat.config.keys import ENTRY_KEYS

    # The entry's own columns; the version is the schema's (a trigger or a default).
    columns = ["name", *(k for k in ENTRY_KEYS if k in entries_table.columns)]
    with contextlib.closing(sqlite3.connect(path)) as db:
        base = {c: None for c in columns}
        rows = []
        for i in range(1, n):  # e0 is in the YAML file
            values = dict(base, name=f"e{i}", enabled=1, **spec(i))
            rows.append(tuple(values[c] for c in columns))
        marks = ",".join("?" * len(columns))
        db.executemany(f"INSERT INTO beat_entries ({','.join(columns)}) VALUES ({marks})", rows)
        db.commit()


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.time() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


PROFILE_HOOK = """
import atexit, cProfile, logging, os, pstats, sys, tracemalloc
mode = os.environ["BENCH_PROFILE"]
if mode == "cprofile":
    prof = cProfile.Profile(); prof.enable()
class Hook(logging.Handler):
    def emit(self, record):
        if not record.getMessage().startswith("beat started"):
            return
        if mode == "cprofile":
            prof.disable()
            order = os.environ.get("BENCH_SORT", "cumulative")
            pstats.Stats(prof, stream=sys.stderr).sort_stats(order).print_stats(45)
        else:
            snap = tracemalloc.take_snapshot()
            stats = snap.statistics("lineno")
            total = sum(s.size for s in stats)
            print(f"tracemalloc: {total / 1e6:.1f} MB traced", file=sys.stderr)
            for s in stats[:30]:
                line = f"  {s.size / 1e6:8.1f} MB {s.count:>9} blocks  {s.traceback}"
                print(line, file=sys.stderr)
        print("BENCH-PROFILE-DONE", file=sys.stderr, flush=True)
logging.getLogger().addHandler(Hook())
sys.argv = ["beat"] + sys.argv[1:]
from beat.cli import main
main()
"""


def run(
    n: int,
    sql: bool,
    profile: str | None,
    directory: Path,
    redis_url: str,
    warm: bool = False,
) -> dict[str, float]:
    config = directory / f"schedules-{n}.yaml"
    source = None
    if sql:
        db = directory / f"source-{n}.db"
        db.unlink(missing_ok=True)
        write_sqlite(db, n)
        source = f"sqlite:///{db}"
    write_yaml(config, n, redis_url, source)
    state = directory / f"state-{n}.db"
    state.unlink(missing_ok=True)
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the private server: nothing else lives there
    args = ["-s", str(state), "--config", str(config)]
    env = dict(os.environ)
    if profile:
        env["BENCH_PROFILE"] = profile
        if profile == "tracemalloc":
            env["PYTHONTRACEMALLOC"] = "1"
        cmd = [sys.executable, "-c", PROFILE_HOOK, *args]
    else:
        cmd = [sys.executable, "-m", "beat", *args]
    measured = start(cmd, env, directory / f"beat-{n}.log", profile)
    if not warm:
        return measured
    # The same beat again, against the same state (and so its start-up cache beside it).
    again = start(cmd, env, directory / f"beat-{n}-warm.log", profile)
    return measured | {f"warm_{k}": v for k, v in again.items()}


def start(
    cmd: list[str], env: dict[str, str], log_path: Path, profile: str | None
) -> dict[str, float]:
    """Start ``cmd``, measure it at ready (its "beat started" line), stop it."""
    with log_path.open("w+") as log:
        started = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=REPO, env=env)
        peak = 0
        try:
            ready_line = "BENCH-PROFILE-DONE" if profile else "beat started"
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"beat exited:\n{log_path.read_text()[-3000:]}")
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    peak = max(peak, proc_status(proc.pid)["VmHWM"])
                log.seek(0)
                if ready_line in log.read():
                    ready_s = time.time() - started
                    status = proc_status(proc.pid)
                    cpu = cpu_seconds(proc.pid)
                    break
                time.sleep(0.05)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # busy dispatching its first fires: no matter
                proc.kill()
                proc.wait()
        if profile:
            text = log_path.read_text()
            print(text[text.find("tracemalloc:") if profile == "tracemalloc" else 0 :])
    return {"ready_s": ready_s, "cpu_s": cpu, "rss": status["VmRSS"], "peak": status["VmHWM"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--sql", action="store_true", help="entries in a SQLite source table")
    parser.add_argument("--profile", choices=["tracemalloc", "cprofile"])
    parser.add_argument(
        "--warm", action="store_true", help="also a second start on the same state (its cache)"
    )
    args = parser.parse_args()
    compile_sources([REPO])  # every start reads bytecode, as an installed beat's does
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with private_redis(directory) as redis_url:
            base = run(1, False, None, directory, redis_url)
            kind = "SQL source (SQLite)" if args.sql else "YAML"
            print(f"{kind}; one entry: RSS {base['rss'] / 1e6:.0f} MB, {os.cpu_count()} CPUs, "
                  f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
            print(
                f"{'N':>9} {'ready s':>8} {'cpu s':>7} {'RSS MB':>8} {'peak MB':>8}"
                f" {'B/entry':>8} {'peak B/entry':>13}"
            )
            for n in args.n:
                r = run(n, args.sql, args.profile, directory, redis_url, args.warm)
                print(
                    f"{n:>9} {r['ready_s']:>8.2f} {r['cpu_s']:>7.2f} {r['rss'] / 1e6:>8.0f}"
                    f" {r['peak'] / 1e6:>8.0f} {(r['rss'] - base['rss']) / n:>8.0f}"
                    f" {(r['peak'] - base['rss']) / n:>13.0f}",
                    flush=True,
                )
                if args.warm:
                    print(
                        f"{'warm':>9} {r['warm_ready_s']:>8.2f} {r['warm_cpu_s']:>7.2f}"
                        f" {r['warm_rss'] / 1e6:>8.0f} {r['warm_peak'] / 1e6:>8.0f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
