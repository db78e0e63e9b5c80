"""SqlSource.load_all streams its rows (issue 17): a row becomes its entry and is dropped, so a
million rows are never all in memory at once, only the entries."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo

from beat.sources.sql.poller import SourcePoller
from beat.sources.sql.schema import ensure_schema, make_engine
from beat.sources.sql.table import SqlSource


def _table(tmp_path: Path, insert: str, rows: list[tuple[str, ...]]) -> str:
    """A SQLite source table of ``rows`` (``insert`` names the columns); its URL."""
    url = f"sqlite:///{tmp_path / 'entries.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    with contextlib.closing(sqlite3.connect(tmp_path / "entries.db")) as db:
        db.executemany(insert, rows)
        db.commit()
    return url


def test_load_all_never_holds_every_row_at_once(tmp_path: Path) -> None:
    n = 20_000
    url = _table(
        tmp_path,
        "INSERT INTO beat_entries (name, task, cron, enabled) VALUES (?, 't', ?, 1)",
        [(f"row-{i:06d}-{'x' * 40}", f"{i % 60} * * * *") for i in range(n)],
    )
    source = SqlSource(url, zone=ZoneInfo("UTC"))
    try:
        source.load_all()  # warm: schema checks, compiled statements, validated specs
        gc.collect()
        tracemalloc.start()
        try:
            snapshot = source.load_all()
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        source.close()
    assert len(snapshot.entries) == n and not snapshot.problems
    # Holding every row (the old `.all()`) peaked ~7 MB above what is kept; streamed, the
    # peak is a fetch buffer's worth of rows above it.
    assert peak - kept < 3_000_000, (kept, peak)


def test_a_loaded_source_keeps_nothing_per_entry(tmp_path: Path) -> None:
    """What a SQL source holds after start-up, once the entries are handed over: nothing per
    entry (issue 17: the service's roster holds every entry it runs; a dict of the rows by
    name beside it was ~90 bytes per entry more than a schedules.yaml beat holds)."""
    n = 20_000
    url = _table(
        tmp_path,
        "INSERT INTO beat_entries (name, task, every, enabled) VALUES (?, 't', '5m', 1)",
        [(f"row-{i:06d}",) for i in range(n)],
    )
    source = SqlSource(url, zone=ZoneInfo("UTC"))
    SourcePoller(source, {}).initial()  # warm: schema checks, compiled statements, specs
    poller = SourcePoller(source, {})
    gc.collect()
    tracemalloc.start()
    try:
        handed_over = poller.initial()
        assert len(handed_over) == n
        del handed_over  # the service's roster keeps what it needs of them
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        source.close()
    assert kept < n, kept  # under a byte per entry: nothing per entry
