"""``routes:`` applies to SQL rows as to YAML entries (the config's routes reach the source)."""

from __future__ import annotations

from pathlib import Path

from beat.config import load_config
from beat.entries_api import EntryStore
from beat.sources.sql import read_source


def test_rows_are_routed_like_yaml_entries(db_url: str, tmp_path: Path) -> None:
    with EntryStore(db_url) as store:
        store.add("nightly", {"task": "reports.nightly", "cron": "0 2 * * *"})
        store.add("own", {"task": "reports.x", "every": "1h", "queue": "mine"})
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(f"source: {db_url}\nroutes:\n  reports.*:\n    queue: reports\n")
    entries, problems = read_source(load_config(cfg))
    assert problems == []
    assert (entries["nightly"].queue, entries["own"].queue) == ("reports", "mine")
