"""Read-only command start-up: median wall and CPU time of each command beside ``beat --help``.

    .venv/bin/python bench/bench_cli.py [--runs 15] [--imports 10] [--against DIR]

Runs in a scratch directory holding a copy of the example ``schedules.yaml`` (embedded SQLite
queue, created by one ``beat send`` first so ``queues``/``status`` read a real file) and the run
state a beat leaves (``schedule.db``, every entry indexed, so ``list``/``next`` read it), with
its own ``XDG_CACHE_HOME`` (beat.cache), so ``beat next ENTRY`` answers from the configuration
cache its first run writes (``beat list`` too); the lines ``..., no cache`` are the same
commands with no cache folder (``HOME`` and ``XDG_CACHE_HOME`` empty): what they cost after an
edit of the file. Targets
(issues 12 and 17): every read-only command under 150 ms wall on an idle machine, ``beat next``
under 100 ms (median of 15). Prints one line per command: median and min wall time over --runs
runs, the median's ratio to ``--help``, and the median CPU time (user+sys) of the process, with
``python -c pass`` as the interpreter's floor and the load average before and after: on a busy
machine the CPU column is the steadier figure. ``--imports N`` adds, per command, the N modules
with the largest own import time under ``python -X importtime`` (the smallest of three runs, so
a load spike does not promote a module; the cumulative time beside it). ``--against DIR`` runs
every command of another checkout too (``git archive main beat taskqueue daemonkit | tar -x -C
DIR``), through PYTHONPATH and interleaved, so before and after meet the same load.

The sources are byte-compiled first (``compileall``), as an installed package is: with
``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__`` every run would compile ~60 modules again,
tens of milliseconds that no real installation pays.
"""

from __future__ import annotations

import argparse
import os
import re
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
sys.path.insert(0, str(ROOT / "bench"))

from benchcompile import compile_sources  # noqa: E402

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "beat --help": [BEAT, "--help"],
    "beat check": [BEAT, "check"],
    "beat list": [BEAT, "list"],
    "beat list, no cache": [BEAT, "list"],
    "beat next nightly-cleanup -n 1": [BEAT, "next", "nightly-cleanup", "-n", "1"],
    "beat next ..., no cache": [BEAT, "next", "nightly-cleanup", "-n", "1"],
    "beat next --cron '0 3 * * *'": [BEAT, "next", "--cron", "0 3 * * *", "-n", "1"],
    "beat queues": [BEAT, "queues"],
    "beat status no-such-id": [BEAT, "status", "no-such-id"],
}


# Run without a cache directory (beat.cache.files.cache_dir is None): the cold path.
UNCACHED = {"beat list, no cache", "beat next ..., no cache"}


def measure(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user+sys) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)$", re.MULTILINE)


def top_imports(
    argv: list[str], cwd: Path, count: int, env: dict[str, str], runs: int = 3
) -> list[tuple[str, int, int]]:
    """The ``count`` modules with the largest own import time (us) of the command ``argv``,
    each as (module, own, cumulative): the smallest over ``runs``."""
    own: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    for _ in range(runs):
        command = [sys.executable, "-X", "importtime", *argv]  # argv[0]: the beat script
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        for self_us, cumulative_us, module in _IMPORT_LINE.findall(result.stderr):
            own[module] = min(own.get(module, 1 << 62), int(self_us))
            cumulative[module] = min(cumulative.get(module, 1 << 62), int(cumulative_us))
    ranked = sorted(own, key=own.__getitem__, reverse=True)[:count]
    return [(module, own[module], cumulative[module]) for module in ranked]


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


def table(walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    base = statistics.median(walls["beat --help"])
    print(f"{'command':<32} {'median ms':>9} {'min ms':>7} {'x --help':>8} {'cpu ms':>7}")
    for name, times in walls.items():
        median = statistics.median(times)
        cpu = statistics.median(cpus[name])
        print(
            f"{name:<32} {median * 1e3:>9.0f} {min(times) * 1e3:>7.0f}"
            f" {median / base:>8.2f} {cpu * 1e3:>7.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--imports", type=int, default=0, metavar="N")
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="DIR",
        help="another checkout (e.g. `git archive main | tar -x -C DIR`), run through "
        "PYTHONPATH interleaved with this one: a before/after under the same load",
    )
    args = parser.parse_args()
    sides = {"this": ROOT} if args.against is None else {"this": ROOT, "against": args.against}
    load_before = load()
    walls = {side: {name: list[float]() for name in COMMANDS} for side in sides}
    cpus = {side: {name: list[float]() for name in COMMANDS} for side in sides}
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        # A private cache directory (beat.cache), warmed by the first run of each command.
        cached = {**os.environ, "XDG_CACHE_HOME": str(cwd / "cache")}
        envs = {side: {**cached, "PYTHONPATH": str(path)} for side, path in sides.items()}
        uncached = {"XDG_CACHE_HOME": "", "HOME": ""}
        compile_sources(sides.values())
        shutil.copy(ROOT / "schedules.yaml", cwd / "schedules.yaml")
        subprocess.run([BEAT, "send", "log"], cwd=cwd, check=True, capture_output=True)
        seed_state(cwd)
        for _ in range(args.runs):  # interleaved: a load spike hits every command alike
            for name, argv in COMMANDS.items():
                for side, env in envs.items():
                    elapsed, cpu = measure(
                        argv, cwd, {**env, **uncached} if name in UNCACHED else env
                    )
                    walls[side][name].append(elapsed)
                    cpus[side][name].append(cpu)
        imports = {
            name: top_imports(
                argv, cwd, args.imports, {**cached, **uncached} if name in UNCACHED else cached
            )
            for name, argv in COMMANDS.items()
            if args.imports and name != "python -c pass"
        }
    print(f"load average before: {load_before}, after: {load()} ({os.cpu_count()} CPUs)")
    for side, path in sides.items():
        if len(sides) > 1:
            print(f"\n{side}: {path}")
        table(walls[side], cpus[side])
    for name, ranked in imports.items():
        print(f"\n{name}: largest own import times (ms, own / cumulative)")
        for module, own, cumulative in ranked:
            print(f"  {own / 1e3:6.1f} {cumulative / 1e3:6.1f}  {module}")


if __name__ == "__main__":
    main()
