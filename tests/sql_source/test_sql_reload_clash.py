"""A schedules.yaml reload in a beat with a SQL source re-merges from the entries it runs:
a row its YAML entry hid runs once the YAML entry leaves the file, and a row the file now
names is hidden (the source keeps no row of its own per entry). The real service, a real
SQLite queue and state file; the SQL source on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.entries_api import EntryStore
from beat.service import BeatService
from beat.sources import open_source
from tests.fake_clock import FakeClock


def _yaml(url: str, names: list[str]) -> str:
    """A schedules.yaml naming the source and a YAML entry for each of ``names``."""
    entries = "".join(f"\n  {n}: {{task: from-yaml, every: 5m}}" for n in names)
    return f"source: '{url}'\nentries:{entries or ' {}'}\n"


def test_a_reload_swaps_rows_and_yaml_entries_of_one_name(tmp_path: Path, db_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(_yaml(db_url, ["dup"]))
    with EntryStore(db_url) as store:
        for name in ("dup", "other", "plain"):
            store.add(name, {"task": "from-db", "every": "5m"})
    config = load_config(cfg)
    svc = BeatService(
        config, str(tmp_path / "s.db"), broker_url=f"sqlite:///{tmp_path / 'queue.db'}",
        clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)), lookahead=timedelta(0),
        source=open_source(config, poll_interval=timedelta(0)),
    )  # fmt: skip
    svc.start()
    try:
        assert svc.entries["dup"].task == "from-yaml" and svc.entries["other"].task == "from-db"
        cfg.write_text(_yaml(db_url, ["other"]))
        svc.apply_config(load_config(cfg), svc.clock())
        tasks = {name: entry.task for name, entry in svc.entries.items()}
        assert tasks == {"dup": "from-db", "other": "from-yaml", "plain": "from-db"}
        cfg.write_text(_yaml(db_url, []))
        svc.apply_config(load_config(cfg), svc.clock())
        tasks = {name: entry.task for name, entry in svc.entries.items()}
        assert tasks == {"dup": "from-db", "other": "from-db", "plain": "from-db"}
    finally:
        svc.close()
