"""Read-only command start-up: median wall time of each command beside ``beat --help``.

    .venv/bin/python bench/bench_cli.py [--runs 9]

Runs in a scratch directory holding a copy of the example ``schedules.yaml`` (embedded SQLite
queue, created by one ``beat send`` first so ``queues``/``status`` read a real file) and the run
state a beat leaves (``schedule.db``, every entry indexed, so ``list``/``next`` read it). Target
(issue 12): every read-only command under 150 ms wall on an idle machine. Prints one line per
command: median and min over --runs runs, and the median's ratio to ``--help``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from benchredis import load_line  # noqa: E402

BEAT = Path(sys.executable).parent / "beat"

COMMANDS = (
    ["--help"],
    ["check"],
    ["list"],
    ["next", "nightly-cleanup", "-n", "1"],
    ["queues"],
    ["status", "no-such-id"],
)


def wall(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        shutil.copy(ROOT / "schedules.yaml", cwd / "schedules.yaml")
        subprocess.run([str(BEAT), "send", "log"], cwd=cwd, check=True, capture_output=True)
        seed_state(cwd)
        results = {}
        for _ in range(args.runs):  # interleaved: a load spike hits every command alike
            for command in COMMANDS:
                results.setdefault(" ".join(command), []).append(wall([str(BEAT), *command], cwd))
    base = statistics.median(results["--help"])
    print(load_line())
    print(f"{'command':<28} {'median ms':>10} {'min ms':>8} {'x --help':>9}")
    for name, times in results.items():
        median = statistics.median(times)
        print(
            f"beat {name:<23} {median * 1e3:>10.0f} {min(times) * 1e3:>8.0f} {median / base:>9.2f}"
        )


if __name__ == "__main__":
    main()
