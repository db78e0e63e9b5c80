"""Re-enabling an entry never replays the fires of its disabled period, whichever source the
edit comes through (issue 13: the YAML reload path and the SQL delta path once disagreed, the
SQL one replaying 60 missed fires after an hour).

The real service with an injected clock, a real SQLite queue and a real state file; the SQL
source on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.entries_api import EntryStore
from beat.service import BeatService
from beat.sources import open_source
from tests.fake_clock import FakeClock
from tests.sql_source.test_sql_running_beat import fires

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY = {"task": "noop", "every": "1m", "start": T0.isoformat(), "catch_up": "all"}
MS = timedelta(milliseconds=1)


def _yaml(enabled: bool) -> str:
    return (
        "entries:\n  job:\n"
        + "".join(f"    {k}: {v}\n" for k, v in ENTRY.items())
        + f"    enabled: {str(enabled).lower()}\n"
    )


def _minutes(times: list[datetime]) -> list[int]:
    return [int((t - T0).total_seconds() // 60) for t in times]


def test_reenable_through_schedules_yaml_replays_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(_yaml(True))
    broker_url = f"sqlite:///{tmp_path / 'queue.db'}"
    clock = FakeClock(T0 + timedelta(seconds=30))
    svc = BeatService(
        load_config(cfg), str(tmp_path / "s.db"), broker_url=broker_url, clock=clock,
        lookahead=timedelta(0),
    )  # fmt: skip
    svc.start()
    try:
        clock.now = T0 + timedelta(minutes=1) + MS
        svc.tick()
        cfg.write_text(_yaml(False))
        svc.apply_config(load_config(cfg), clock.now)
        clock.now = T0 + timedelta(minutes=61, seconds=30)
        svc.tick()
        cfg.write_text(_yaml(True))
        svc.apply_config(load_config(cfg), clock.now)
        svc.tick()
        clock.now = T0 + timedelta(minutes=62) + MS
        svc.tick()
    finally:
        svc.close()
    assert _minutes(fires(broker_url)["job"]) == [1, 62]


def test_reenable_through_the_sql_source_replays_nothing(tmp_path: Path, db_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(f"source: '{db_url}'\nentries: {{}}\n")
    store = EntryStore(db_url)
    store.add("job", ENTRY)
    broker_url = f"sqlite:///{tmp_path / 'queue.db'}"
    clock = FakeClock(T0 + timedelta(seconds=30))
    config = load_config(cfg)
    svc = BeatService(
        config, str(tmp_path / "s.db"), broker_url=broker_url, clock=clock,
        lookahead=timedelta(0), source=open_source(config, poll_interval=timedelta(0)),
    )  # fmt: skip
    svc.start()
    try:
        clock.now = T0 + timedelta(minutes=1) + MS
        svc.tick()
        store.disable("job")
        svc.maybe_reload()
        assert not svc.entries["job"].enabled
        clock.now = T0 + timedelta(minutes=61, seconds=30)
        svc.tick()
        store.enable("job")
        svc.maybe_reload()
        assert svc.entries["job"].enabled
        svc.tick()
        clock.now = T0 + timedelta(minutes=62) + MS
        svc.tick()
    finally:
        svc.close()
        store.close()
    assert _minutes(fires(broker_url)["job"]) == [1, 62]
