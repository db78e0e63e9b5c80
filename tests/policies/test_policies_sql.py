"""jitter, start/end and solar through the SQL source: EntryStore and ``beat entries`` accept
them with the YAML messages, the poller builds the same entries, and a version-1 database is
upgraded in place (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from beat.cli import main
from beat.config import validate_entry
from beat.entries_api import EntryStore, merge_update
from beat.errors import ConfigError
from beat.sources.sql.schema import SCHEMA_VERSION, ensure_schema, make_engine
from beat.sources.sql.table import SqlSource
from tests.sql_source.conftest import db_url  # noqa: F401  (the fixture)

UTC_ZONE = ZoneInfo("UTC")
SOLAR = {"event": "sunrise", "lat": 69.65, "lon": 18.96}
ENTRY = {
    "task": "t",
    "solar": SOLAR,
    "start": "2026-01-01T00:00:00+00:00",
    "end": "2026-12-31T00:00:00+00:00",
    "jitter": "30s",
}


def test_store_round_trip_and_the_source_builds_the_same_entry(db_url: str) -> None:  # noqa: F811
    with EntryStore(db_url, UTC_ZONE) as store:
        store.add("sun", ENTRY)
        store.add("tick", {"task": "t", "every": "1m", "end": "2026-02-01T00:00:00Z"})
        assert store.get("sun") == ENTRY
    source = SqlSource(db_url, zone=UTC_ZONE)
    try:
        entries, _, problems = source.load_all()
    finally:
        source.close()
    assert problems == []
    want = validate_entry("sun", ENTRY, zone=UTC_ZONE, defaults={})
    assert entries["sun"].content_hash() == want.content_hash()
    assert entries["sun"].jitter == timedelta(seconds=30)
    assert entries["sun"].schedule.describe() == want.schedule.describe()


def test_store_refuses_with_the_yaml_messages(db_url: str) -> None:  # noqa: F811
    bad = {"task": "t", "solar": {"event": "sunrize", "lat": 95, "lon": 0}, "jitter": "soon"}
    with pytest.raises(ConfigError) as yaml_error:
        validate_entry("sun", bad, zone=UTC_ZONE, defaults={})
    with EntryStore(db_url, UTC_ZONE) as store, pytest.raises(ConfigError) as store_error:
        store.add("sun", bad)
    as_yaml = [(p.path, p.message) for p in yaml_error.value.problems]
    assert [(p.path, p.message) for p in store_error.value.problems] == as_yaml
    assert [path for path, _ in as_yaml] == [
        "entries.sun.solar.event",
        "entries.sun.solar.lat",
        "entries.sun.jitter",
    ]


def test_update_keeps_a_bound_start_across_non_interval_kinds() -> None:
    current = {"task": "t", "cron": "0 * * * *", "start": "2026-01-01T00:00:00Z"}
    assert merge_update(current, {"solar": SOLAR})["start"] == "2026-01-01T00:00:00Z"
    assert "start" not in merge_update(current, {"every": "1h"})


def test_a_version_1_database_gets_the_new_columns(db_url: str) -> None:  # noqa: F811
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE beat_entries (name VARCHAR(200) PRIMARY KEY, task TEXT NOT NULL, "
            "cron TEXT, every TEXT, start TEXT, calendar TEXT, at TEXT, timezone TEXT, "
            "queue TEXT, args TEXT, kwargs TEXT, options TEXT, catch_up TEXT, grace TEXT, "
            "enabled BOOLEAN NOT NULL DEFAULT TRUE, version BIGINT NOT NULL DEFAULT 0, "
            "txid BIGINT NOT NULL DEFAULT 0)"
        )
        conn.exec_driver_sql("CREATE TABLE beat_schema (id INTEGER PRIMARY KEY, version INTEGER)")
        conn.exec_driver_sql("INSERT INTO beat_schema VALUES (1, 1)")
        conn.exec_driver_sql(
            "INSERT INTO beat_entries (name, task, cron) VALUES ('old', 't', '0 * * * *')"
        )
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM beat_schema")).scalar() == SCHEMA_VERSION
        columns = {c["name"] for c in sa.inspect(conn).get_columns("beat_entries")}
    assert {"end", "solar", "jitter"} <= columns
    engine.dispose()
    with EntryStore(db_url, UTC_ZONE) as store:
        assert store.get("old") == {"task": "t", "cron": "0 * * * *"}
        store.update("old", {"end": "2030-01-01T00:00:00Z", "jitter": "5s"})
        assert store.get("old")["jitter"] == "5s"


def test_entries_cli_add_with_the_new_options(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(f"source: '{db_url}'\n")
    c = ("entries", "--config", str(config))
    argv = [*c, "add", "sun", "--task", "t", "--solar", "{event: dusk_civil, lat: 52.5, lon: 13.4}"]
    argv += ["--start", "2026-01-01T00:00:00Z", "--end", "2027-01-01T00:00:00Z", "--jitter", "1m"]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code in (0, None), capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main([*c, "add", "bad", "--task", "t", "--solar", "{event: noon, lat: 1, lon: 1}"])
    _, err = capsys.readouterr()
    assert done.value.code != 0
    assert "entries.bad.solar.event" in err and "solar_noon" in err
    with EntryStore(db_url, UTC_ZONE) as store:
        assert store.get("sun")["solar"] == {"event": "dusk_civil", "lat": 52.5, "lon": 13.4}
        assert store.get("sun")["jitter"] == "1m"
