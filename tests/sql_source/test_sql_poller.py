"""SourcePoller: the merged YAML + database view and the deltas it hands the service."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from beat.config import validate_entry
from beat.entries import Entry
from beat.entries_api import EntryStore
from beat.sources.delta import Delta
from beat.sources.sql.poller import SourcePoller
from beat.sources.sql.table import SqlSource
from tests.sql_source.raw import raw_sql

UTC = ZoneInfo("UTC")


def yaml_entry(name: str) -> Entry:
    return validate_entry(name, {"task": "from-yaml", "every": "5s"}, zone=UTC, defaults={})


def applied(running: dict[str, Entry], delta: Delta | None) -> dict[str, Entry]:
    """``running`` (the entries a beat runs) after ``delta``, as the service applies it."""
    if delta is not None:
        running.update(delta.changed)
        for name in delta.removed:
            running.pop(name, None)
    return running


def test_initial_poll_and_deltas(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with EntryStore(db_url) as store:
        store.add("db1", {"task": "t", "every": "5s"})
        store.add("dup", {"task": "from-db", "every": "5s"})
    poller = SourcePoller(SqlSource(db_url, zone=UTC), {"dup": yaml_entry("dup")})
    running = poller.initial()
    assert sorted(running) == ["db1", "dup"]
    assert running["dup"].task == "from-yaml"  # a clash keeps the YAML entry
    assert "entries.dup: the name is also an entry of schedules.yaml" in caplog.text
    assert poller.poll() is None  # nothing changed
    with EntryStore(db_url) as store:
        store.update("db1", {"every": "7s"})
        store.add("db2", {"task": "t", "cron": "0 * * * *"})
        store.update("dup", {"every": "9s"})  # still clashing: not applied
    delta = poller.poll()
    assert delta is not None
    assert sorted(delta.changed) == ["db1", "db2"] and delta.removed == []
    applied(running, delta)
    assert running["dup"].task == "from-yaml"
    with EntryStore(db_url) as store:
        store.remove("dup")
        store.remove("db2")
    delta = poller.poll()
    assert delta is not None and delta.removed == ["db2"]  # the YAML "dup" stays
    assert sorted(applied(running, delta)) == ["db1", "dup"]
    # The YAML entry leaves schedules.yaml: nothing clashes any more.
    assert sorted(poller.replace_yaml({}, running)) == ["db1"]
    poller.source.close()


def test_a_reload_reruns_a_row_its_yaml_entry_hid_and_hides_one_it_names(db_url: str) -> None:
    """The rows a schedules.yaml reload re-merges come from the running entries and from the
    rows the YAML hid (the poller keeps no row of its own per entry)."""
    with EntryStore(db_url) as store:
        store.add("dup", {"task": "from-db", "every": "5s"})
        store.add("other", {"task": "from-db", "every": "5s"})
    poller = SourcePoller(SqlSource(db_url, zone=UTC), {"dup": yaml_entry("dup")})
    running = poller.initial()
    assert running["dup"].task == "from-yaml" and running["other"].task == "from-db"
    # The file now names "other" and no longer "dup": the row "dup" runs, "other" is hidden.
    running = poller.replace_yaml({"other": yaml_entry("other")}, running)
    assert running["dup"].task == "from-db" and running["other"].task == "from-yaml"
    with EntryStore(db_url) as store:
        store.update("other", {"every": "9s"})  # hidden: not applied
    assert poller.poll() is None
    # And back: the hidden row, as last written, runs again.
    running = poller.replace_yaml({}, running)
    assert running["dup"].task == "from-db"
    assert running["other"].schedule.describe() == "every 9s"
    poller.source.close()


def test_invalid_row_keeps_the_last_valid_form(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with EntryStore(db_url) as store:
        store.add("a", {"task": "t", "every": "5s"})
    poller = SourcePoller(SqlSource(db_url, zone=UTC), {})
    running = poller.initial()
    raw_sql(db_url, "UPDATE beat_entries SET every = 'often' WHERE name = 'a'")
    with caplog.at_level(logging.ERROR):
        assert poller.poll() is None
    assert running["a"].schedule.describe() == "every 5s"
    assert "entries.a.every" in caplog.text and "invalid entry skipped" in caplog.text
    assert [p.path for p in poller.problems] == ["entries.a.every"]
    poller.source.close()


def test_unreachable_database_while_running_is_logged_once(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    with EntryStore(url) as store:
        store.add("a", {"task": "t", "every": "5s"})
    poller = SourcePoller(SqlSource(url, zone=UTC), {}, interval=timedelta(seconds=1))
    poller.initial()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the source's tables vanish: every read fails
        conn.execute(sa.text("ALTER TABLE beat_entries RENAME TO moved"))
    with caplog.at_level(logging.ERROR):
        assert poller.poll() is None
        assert poller.poll() is None
    assert caplog.text.count("SQL source unreadable") == 1
    assert poller.problems == []  # the running entries are kept: no delta, no problem
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE moved RENAME TO beat_entries"))
    engine.dispose()
    with EntryStore(url) as store:
        store.add("b", {"task": "t", "every": "5s"})
    delta = poller.poll()
    assert delta is not None and list(delta.changed) == ["b"]
    poller.source.close()


def test_maybe_poll_respects_the_interval(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    poller = SourcePoller(SqlSource(url, zone=UTC), {}, interval=timedelta(seconds=1))
    poller.initial()
    assert poller.maybe_poll(100.0) is None
    with EntryStore(url) as store:
        store.add("a", {"task": "t", "every": "5s"})
    assert poller.maybe_poll(100.5) is None  # too soon: no read
    delta = poller.maybe_poll(101.0)
    assert delta is not None and list(delta.changed) == ["a"]
    poller.source.close()


def test_read_source_lists_invalid_rows_and_clashes(tmp_path: object) -> None:
    from pathlib import Path

    from beat.config import load_config
    from beat.sources.sql import merged_entries, read_source

    url = f"sqlite:///{tmp_path}/e.db"
    config_path = Path(str(tmp_path)) / "schedules.yaml"
    config_path.write_text(f"source: '{url}'\nentries:\n  y: {{task: t, every: 5s}}\n")
    with EntryStore(url) as store:
        store.add("y", {"task": "t", "every": "5s"})
        store.add("ok", {"task": "t", "every": "5s"})
        store.add("bad", {"task": "t", "every": "5s"})
    raw_sql(url, "UPDATE beat_entries SET queue = 'a b' WHERE name = 'bad'")
    config = load_config(config_path)
    problems = read_source(config)[1]  # what ``beat check`` reports
    assert sorted(p.path for p in problems) == ["entries.bad.queue", "entries.y"]
    merged = merged_entries(config)
    assert sorted(merged) == ["ok", "y"]
    assert merged["y"].source == "yaml" and merged["ok"].source == url
