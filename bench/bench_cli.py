"""Read-only command start-up: median wall and CPU time of each command beside ``beat --help``.

    .venv/bin/python bench/bench_cli.py [--runs 15]

Runs in a scratch directory holding a copy of the example ``schedules.yaml`` (embedded SQLite
queue, created by one ``beat send`` first so ``queues``/``status`` read a real file) and the run
state a beat leaves (``schedule.db``, every entry indexed, so ``list``/``next`` read it). Targets
(issues 12 and 17): every read-only command under 150 ms wall on an idle machine, ``beat next``
under 100 ms (median of 15). Prints one line per command: median and min wall time over --runs
runs, the median's ratio to ``--help``, and the median CPU time (user+sys) of the process, with
``python -c pass`` as the interpreter's floor and the load average before and after: on a busy
machine the CPU column is the steadier figure.

The sources are byte-compiled first (``compileall``), as an installed package is: with
``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__`` every run would compile ~60 modules again,
tens of milliseconds that no real installation pays.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEAT = str(Path(sys.executable).parent / "beat")

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "beat --help": [BEAT, "--help"],
    "beat check": [BEAT, "check"],
    "beat list": [BEAT, "list"],
    "beat next nightly-cleanup -n 1": [BEAT, "next", "nightly-cleanup", "-n", "1"],
    "beat next --cron '0 3 * * *'": [BEAT, "next", "--cron", "0 3 * * *", "-n", "1"],
    "beat queues": [BEAT, "queues"],
    "beat status no-such-id": [BEAT, "status", "no-such-id"],
}


def measure(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user+sys) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def seed_state(cwd: Path) -> None:
    """``schedule.db`` as a beat that indexed every entry an hour ago leaves it."""
    from beat.config import load_config
    from beat.planner import first_state
    from beat.state import StateStore

    config = load_config(cwd / "schedules.yaml")
    store = StateStore(str(cwd / "schedule.db"))
    try:
        seen = datetime.now(UTC) - timedelta(hours=1)
        store.upsert_new([first_state(e, seen, None) for e in config.entries.values()])
    finally:
        store.close()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    load_before = load()
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        packages = [str(ROOT / name) for name in ("beat", "taskqueue", "daemonkit")]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)
        shutil.copy(ROOT / "schedules.yaml", cwd / "schedules.yaml")
        subprocess.run([BEAT, "send", "log"], cwd=cwd, check=True, capture_output=True)
        seed_state(cwd)
        for _ in range(args.runs):  # interleaved: a load spike hits every command alike
            for name, argv in COMMANDS.items():
                elapsed, cpu = measure(argv, cwd)
                walls[name].append(elapsed)
                cpus[name].append(cpu)
    base = statistics.median(walls["beat --help"])
    print(f"load average before: {load_before}, after: {load()} ({os.cpu_count()} CPUs)")
    print(f"{'command':<32} {'median ms':>9} {'min ms':>7} {'x --help':>8} {'cpu ms':>7}")
    for name, times in walls.items():
        median = statistics.median(times)
        cpu = statistics.median(cpus[name])
        print(
            f"{name:<32} {median * 1e3:>9.0f} {min(times) * 1e3:>7.0f}"
            f" {median / base:>8.2f} {cpu * 1e3:>7.0f}"
        )


if __name__ == "__main__":
    main()
