"""Schedule speed: `beat next` start-up, and next_after throughput in-process.

    .venv/bin/python bench/bench_next.py [--runs 20] [--calls 100000]

(1) median wall time of `beat next --cron '30 2 * * *' --tz America/New_York -n 5` over
--runs subprocess runs (interpreter start included; target < 150 ms), next to
`python -c 'import beat.time.schedules'` and `python -c pass` for scale.
(2) --calls next_after calls over a mix of expressions and zones (target < 1 s; best of 3),
twice: every call asking a distinct question (cold: no result cache hits), and as the daemon
asks them (entries sharing an expression and a last fire: cache hits).
(3) building 100,000 Cron schedules from cold caches, as a config load does: ten shared
expressions, and ``H H * * *`` under 100,000 distinct names (each resolves its own ``H``);
and the one-off cost of the first Cron (croniter's lazy import), median over --runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

EXPRESSIONS = [
    "30 2 * * *",
    "*/5 * * * *",
    "0 * * * *",
    "0 9 * * 1-5",
    "15 3 1 * *",
    "0 0 L * *",
    "0 12 * * 5L",
    "*/15 9-17 * * mon-fri",
    "0 1 * * 1#2",
    "H H * * *",
]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Tokyo"]


def median_ms(argv: list[str], runs: int) -> tuple[float, int]:
    times = []
    code = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, cwd=ROOT, check=False)
        times.append((time.perf_counter() - t0) * 1000)
        code = code or proc.returncode
    return statistics.median(times), code


def throughput(calls: int, *, distinct: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds): CPU time shows the code's cost on a loaded machine."""
    from beat.time.schedules import Cron, _next_cached

    _next_cached.cache_clear()
    schedules = [
        Cron(e, ZoneInfo(z), name=f"entry-{i}")
        for i, (e, z) in enumerate((e, z) for e in EXPRESSIONS for z in ZONES)
    ]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    if distinct:
        # A different instant per call (a prime number of seconds apart) defeats the cache.
        afters = [base + timedelta(seconds=7919 * i) for i in range(calls)]
    else:
        afters = [base + timedelta(minutes=i // len(schedules) // 100) for i in range(calls)]
    n = len(schedules)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(calls):
        schedules[i % n].next_after(afters[i])
    return time.perf_counter() - t0, time.process_time() - c0


def construction(count: int, *, hashed: bool) -> float:
    """Seconds to build ``count`` Cron schedules with every cron cache emptied first."""
    from beat.time import cron_fields, schedules

    for cache in (
        schedules._matcher,
        cron_fields._parse,
        cron_fields._check,
        cron_fields._spec,
        cron_fields._expand,
    ):
        cache.cache_clear()
    zone = ZoneInfo("Europe/Berlin")
    t0 = time.perf_counter()
    for i in range(count):
        expr = "H H * * *" if hashed else EXPRESSIONS[i % 9]  # the nine without H
        schedules.Cron(expr, zone, name=f"entry-{i}")
    return time.perf_counter() - t0


FIRST_CRON = (
    "import time, zoneinfo, beat.time.schedules as s\n"
    "t = time.perf_counter()\n"
    "s.Cron('30 2 * * *', zoneinfo.ZoneInfo('UTC'))\n"
    "print((time.perf_counter() - t) * 1000)\n"
)


def first_cron_ms(py: str, runs: int) -> float:
    outs = [
        float(subprocess.run([py, "-c", FIRST_CRON], capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    py = str(BIN / "python")
    rows: list[tuple[str, str, str]] = []
    cli = [str(BIN / "beat"), "next", "--cron", "30 2 * * *", "--tz", "America/New_York", "-n", "5"]
    ms, code = median_ms(cli, args.runs)
    status = "ok" if code == 0 else f"FAILED (exit {code})"
    rows.append(("beat next --cron '30 2 * * *' (median)", f"{ms:.1f} ms", f"< 150 ms, {status}"))
    ms, _ = median_ms([py, "-c", "import beat.time.schedules"], args.runs)
    rows.append(("python -c 'import beat.time.schedules' (median)", f"{ms:.1f} ms", ""))
    ms, _ = median_ms([py, "-c", "pass"], args.runs)
    rows.append(("python -c pass (median)", f"{ms:.1f} ms", ""))
    for distinct, label in ((True, "distinct afters, no cache hits"), (False, "shared afters")):
        # best of 3: the figure is the code's speed, not the neighbours' load
        wall, cpu = min(throughput(args.calls, distinct=distinct) for _ in range(3))
        rows.append(
            (f"{args.calls:,} next_after, {label}", f"{wall:.3f} s", f"< 1 s (CPU {cpu:.3f} s)")
        )
    for hashed, label in ((False, "9 shared expressions"), (True, "'H H * * *', distinct names")):
        seconds = min(construction(100_000, hashed=hashed) for _ in range(2))
        rows.append((f"100,000 Cron(), {label}", f"{seconds:.3f} s", "cold caches (best of 2)"))
    ms = first_cron_ms(py, args.runs)
    rows.append(("first Cron() in a process (median)", f"{ms:.1f} ms", "croniter's lazy import"))
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
