"""SQL schedule source at scale (issue 5): 100,000 database entries.

    python bench/bench_sql_source.py [-n 100000] [--postgres URL] [--sqlite-only]

For SQLite (a temporary file) and PostgreSQL (a temporary schema in --postgres's database):

- start-up: ``SqlSource.load_all()`` (rows fetched + every row validated into an Entry), then
  the due index built the way the service does it (``first_state`` + ``next_pending`` +
  ``DueIndex.push`` per entry): the time until beat could dispatch its first fire. The fetch
  and the validation are also timed apart, to show where the time goes.
- one change: a raw SQL ``UPDATE`` of one row, then ``changes_since(cursor)``: wall time and
  rows read (work must be proportional to the change, not the table).
- bulk change: a raw ``UPDATE`` of 1% of the rows, the same figures.

Wall times on a busy machine overstate the cost: the CPU time of this process is printed too.

The entry mix: 60% cron (a dozen expressions, several zones), 30% intervals, 10% calendar/at.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from beat.config.keys import ENTRY_KEYS
from beat.due_index import DueIndex
from beat.planner import first_state, next_pending
from beat.sources.sql.schema import ensure_schema, entries_table, make_engine
from beat.sources.sql.table import SqlSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The cron mix of the scale bench: the same expressions are parsed here from SQL rows.
from bench_scale import CRONS

ZONE = ZoneInfo("Europe/Berlin")
ZONES = [None, "America/New_York", "Asia/Tokyo", "UTC"]


def row(i: int) -> dict[str, object]:
    values: dict[str, object] = {key: None for key in ENTRY_KEYS}
    values.update(name=f"entry-{i:06d}", task=f"app.tasks.t{i % 50}", enabled=True)
    kind = i % 10
    if kind < 6:
        values["cron"] = CRONS[i % len(CRONS)]
        values["timezone"] = ZONES[i % len(ZONES)]
    elif kind < 9:
        values["every"] = f"{(i % 300) + 1}s"
    elif i % 20 == 9:
        values["calendar"] = '{"every":"2w","at":"09:30","start":"2026-01-05"}'
    else:
        values["at"] = "2027-06-01T09:00"
    if i % 7 == 0:
        values["kwargs"] = f'{{"id":{i}}}'
        values["queue"] = "reports"
    return values


def populate(url: str, n: int) -> None:
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.begin() as conn:
        for start in range(0, n, 10_000):
            conn.execute(
                sa.insert(entries_table), [row(i) for i in range(start, min(n, start + 10_000))]
            )
    engine.dispose()


def measure(label: str, url: str, n: int) -> list[tuple[str, str, str]]:
    t0 = time.perf_counter()
    populate(url, n)
    fill_s = time.perf_counter() - t0

    source = SqlSource(url, zone=ZONE)
    source.load_all()  # warm the schema check and connection pool; not counted
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        t0 = time.perf_counter()
        fetched = conn.execute(sa.select(entries_table)).all()
        fetch_s = time.perf_counter() - t0
    assert len(fetched) == n

    source = SqlSource(url, zone=ZONE)  # cold: a fresh process would start like this
    t0, c0 = time.perf_counter(), time.process_time()
    snapshot = source.load_all()
    load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    assert len(snapshot.entries) == n, snapshot.problems[:3]
    now = datetime.now(UTC)
    t1, c1 = time.perf_counter(), time.process_time()
    index = DueIndex()
    for name, entry in snapshot.entries.items():
        state = first_state(entry, now, None)
        nxt = next_pending(entry, state)
        if nxt is not None:
            index.push(name, nxt)
    index_s, index_cpu_s = time.perf_counter() - t1, time.process_time() - c1

    cursor = snapshot.cursor
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE beat_entries SET every = '77s' WHERE name = 'entry-000007'"))
    t0 = time.perf_counter()
    one = source.changes_since(cursor)
    one_s = time.perf_counter() - t0
    assert list(one.changed) == ["entry-000007"], one

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE beat_entries SET queue = 'bulk' WHERE name LIKE '%00'"))
    t0 = time.perf_counter()
    bulk = source.changes_since(one.cursor)
    bulk_s = time.perf_counter() - t0
    engine.dispose()
    source.close()
    return [
        (label, "insert rows (setup)", f"{fill_s:.2f} s"),
        (label, "fetch all rows (SQL only)", f"{fetch_s:.2f} s"),
        (label, "load_all (fetch + validate)", f"{load_s:.2f} s (cpu {load_cpu_s:.2f} s)"),
        (label, "build due index", f"{index_s:.2f} s (cpu {index_cpu_s:.2f} s)"),
        (
            label,
            "start-up to dispatch-ready",
            f"{load_s + index_s:.2f} s (cpu {load_cpu_s + index_cpu_s:.2f} s)",
        ),
        (label, "one-row change: changes_since", f"{one_s * 1000:.1f} ms, {one.rows_read} row(s)"),
        (
            label,
            f"{len(bulk.changed)}-row bulk UPDATE",
            f"{bulk_s * 1000:.1f} ms, {bulk.rows_read} row(s)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += measure("sqlite", f"sqlite:///{Path(tmp) / 'entries.db'}", args.n)
    if not args.sqlite_only:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.postgres else "?"
        try:
            results += measure(
                "postgresql", f"{args.postgres}{sep}options=-csearch_path%3D{schema}", args.n
            )
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    load1 = os.getloadavg()[0]
    print(
        f"\nSQL schedule source, {args.n:,} entries (load average {load1:.1f}, "
        f"{os.cpu_count()} CPUs; 'cpu' = this process's CPU time)\n"
    )
    width = max(len(r[1]) for r in results)
    print(f"{'db':<11} {'measure':<{width}}  result")
    for db, what, value in results:
        print(f"{db:<11} {what:<{width}}  {value}")


if __name__ == "__main__":
    main()
