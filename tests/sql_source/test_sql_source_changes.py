"""SqlSource: full load, then only what changed, including raw SQL from other programs."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from beat.entries_api import EntryStore
from beat.sources.sql.table import Changes, SqlSource
from tests.sql_source.raw import raw_sql

BERLIN = ZoneInfo("Europe/Berlin")
# Rows other programs break: a cron minute out of range, kwargs that are not JSON.
BAD_CRON_E0 = "UPDATE beat_entries SET every = NULL, cron = '60 * * * *' WHERE name = 'e0'"
BAD_JSON_E1 = "UPDATE beat_entries SET kwargs = '{not json' WHERE name = 'e1'"


def _changes_after(source: SqlSource, cursor: int, url: str, *statements: str) -> Changes:
    """What ``source`` reads after raw ``statements`` (one transaction) since ``cursor``."""
    raw_sql(url, *statements)
    return source.changes_since(cursor)


def _seed(url: str, count: int) -> None:
    with EntryStore(url, BERLIN) as store:
        for i in range(count):
            store.add(f"e{i}", {"task": "t", "every": f"{i + 1}s"})


def _loaded(url: str, count: int) -> tuple[SqlSource, int]:
    """``count`` seeded entries and a source that has loaded them; the cursor after the load."""
    _seed(url, count)
    source = SqlSource(url, zone=BERLIN)
    return source, source.load_all().cursor


def test_load_all_returns_valid_entries_with_redacted_source(db_url: str) -> None:
    _seed(db_url, 3)
    source = SqlSource(db_url, zone=BERLIN)
    snapshot = source.load_all()
    assert sorted(snapshot.entries) == ["e0", "e1", "e2"]
    assert snapshot.problems == []
    assert snapshot.entries["e2"].schedule.describe() == "every 3s"
    assert snapshot.entries["e0"].schedule.zone == BERLIN
    assert {e.source for e in snapshot.entries.values()} == {source.name}
    source.close()


def test_password_is_redacted_in_source(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    _seed(url, 1)
    source = SqlSource(url, zone=BERLIN)
    entry = source.load_all().entries["e0"]
    assert "s3cret" not in entry.source and "***" in entry.source
    source.close()


def test_no_change_reads_nothing(db_url: str) -> None:
    source, cursor = _loaded(db_url, 5)
    changes = source.changes_since(cursor)
    assert (changes.changed, changes.removed, changes.problems) == ({}, [], [])
    assert changes.rows_read == 0
    source.close()


def test_raw_update_returns_only_that_row(db_url: str) -> None:
    source, cursor = _loaded(db_url, 50)
    changes = _changes_after(
        source, cursor, db_url, "UPDATE beat_entries SET every = '90s' WHERE name = 'e7'"
    )
    assert list(changes.changed) == ["e7"]
    assert changes.changed["e7"].schedule.describe() == "every 1m30s"
    assert changes.rows_read == 1
    # Seen once: the next read is empty again.
    again = source.changes_since(changes.cursor)
    assert again.changed == {} and again.rows_read == 0
    source.close()


def test_bulk_update_and_raw_delete_are_noticed(db_url: str) -> None:
    source, cursor = _loaded(db_url, 20)
    changes = _changes_after(
        source, cursor, db_url, "UPDATE beat_entries SET enabled = false WHERE name <> 'e0'"
    )
    assert len(changes.changed) == 19
    assert not any(e.enabled for e in changes.changed.values())
    raw_sql(db_url, "DELETE FROM beat_entries WHERE name IN ('e1', 'e2')")
    gone = source.changes_since(changes.cursor)
    assert sorted(gone.removed) == ["e1", "e2"] and gone.changed == {}
    source.close()


def test_delete_then_re_add_in_one_interval_is_a_change(db_url: str) -> None:
    source, cursor = _loaded(db_url, 2)
    changes = _changes_after(
        source,
        cursor,
        db_url,
        "DELETE FROM beat_entries WHERE name = 'e1'",
        "INSERT INTO beat_entries (name, task, cron) VALUES ('e1', 't2', '0 3 * * *')",
    )
    assert changes.removed == []
    assert changes.changed["e1"].task == "t2"
    source.close()


def test_invalid_raw_row_is_reported_and_skipped(db_url: str) -> None:
    source, cursor = _loaded(db_url, 2)
    changes = _changes_after(source, cursor, db_url, BAD_CRON_E0, BAD_JSON_E1)
    assert changes.changed == {}
    messages = sorted((p.path, p.message) for p in changes.problems)
    assert messages[0] == ("entries.e0.cron", "minute: 60 is out of range 0-59")
    assert messages[1][0] == "entries.e1.kwargs"
    assert messages[1][1].startswith("not valid JSON")
    assert all(p.file == source.name for p in changes.problems)
    # Fixed later: picked up as a normal change.
    raw_sql(db_url, "UPDATE beat_entries SET cron = '0 * * * *' WHERE name = 'e0'")
    fixed = source.changes_since(changes.cursor)
    assert list(fixed.changed) == ["e0"] and fixed.problems == []
    # And a full load reports the still-broken row.
    snapshot = source.load_all()
    assert sorted(snapshot.entries) == ["e0"]
    assert [p.path for p in snapshot.problems] == ["entries.e1.kwargs"]
    source.close()


def test_defaults_apply_to_rows(db_url: str) -> None:
    _raw_store = EntryStore(db_url, BERLIN, {"queue": "low", "grace": "5m"})
    _raw_store.add("a", {"task": "t", "every": "5s"})
    _raw_store.close()
    source = SqlSource(db_url, zone=BERLIN, defaults={"queue": "low", "grace": "5m"})
    entry = source.load_all().entries["a"]
    assert entry.queue == "low"
    assert entry.grace.total_seconds() == 300
    source.close()


def test_garbage_in_enabled_is_reported_on_sqlite(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    _seed(url, 2)
    raw_sql(url, "UPDATE beat_entries SET enabled = 'no' WHERE name = 'e0'")
    snapshot = SqlSource(url, zone=BERLIN).load_all()
    assert sorted(snapshot.entries) == ["e1"]
    (problem,) = snapshot.problems
    assert problem.path == "entries.e0.enabled"
    assert problem.message.startswith("expected true or false")
