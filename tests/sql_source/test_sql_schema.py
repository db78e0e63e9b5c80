"""The tables and triggers: every write is versioned by the database itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from beat.errors import SourceError
from beat.sources.sql.schema import SCHEMA_VERSION, ensure_schema, make_engine


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test's database, its schema made."""
    made = make_engine(db_url)
    ensure_schema(made)
    yield made
    made.dispose()


def _sql(engine: sa.Engine, *statements: str) -> None:
    """Run raw SQL statements in one transaction, as a writer outside beat would."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def _versions(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, version FROM beat_entries")).all()
    return {name: version for name, version in rows}


def _tombstones(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, version FROM beat_entries_deleted ORDER BY version")
        ).all()
    return [(name, version) for name, version in rows]


def test_schema_created_idempotently_with_version(engine: sa.Engine) -> None:
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM beat_schema")).scalar() == SCHEMA_VERSION
        assert conn.execute(sa.text("SELECT count(*) FROM beat_schema")).scalar() == 1


def test_newer_schema_is_refused(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE beat_schema SET version = :v"), {"v": SCHEMA_VERSION + 1})
    newer = rf"schema version {SCHEMA_VERSION + 1}, newer than this beat supports"
    with pytest.raises(SourceError, match=newer):
        ensure_schema(engine)


def test_raw_sql_writes_are_versioned_by_triggers(engine: sa.Engine) -> None:
    _sql(
        engine,
        "INSERT INTO beat_entries (name, task, every, version) "
        "VALUES ('a', 't', '5s', 999999), ('b', 't', '5s', 0)",
    )
    first = _versions(engine)
    # Whatever the writer put in `version` is overwritten.
    assert first["a"] != 999999
    assert first["a"] > 0 and first["b"] > 0 and first["a"] != first["b"]
    _sql(engine, "UPDATE beat_entries SET every = '10s' WHERE name = 'a'")
    second = _versions(engine)
    assert second["a"] > max(first.values())
    assert second["b"] == first["b"]
    # A bulk update bumps every row; each gets its own version.
    _sql(engine, "UPDATE beat_entries SET queue = 'q'")
    third = _versions(engine)
    assert min(third.values()) > max(second.values())
    assert len(set(third.values())) == 2
    # Delete: a tombstone newer than anything before.
    _sql(engine, "DELETE FROM beat_entries WHERE name = 'b'")
    (tomb,) = _tombstones(engine)
    assert tomb[0] == "b" and tomb[1] > max(third.values())
    # Re-adding the name drops its tombstone: the new row supersedes it.
    _sql(engine, "INSERT INTO beat_entries (name, task, every) VALUES ('b', 't', '1s')")
    assert _tombstones(engine) == []


def test_renaming_a_row_leaves_a_tombstone_for_the_old_name(engine: sa.Engine) -> None:
    _sql(
        engine,
        "INSERT INTO beat_entries (name, task, every) VALUES ('a', 't', '5s')",
        "UPDATE beat_entries SET name = 'z' WHERE name = 'a'",
    )
    versions = _versions(engine)
    tombs = _tombstones(engine)
    assert list(versions) == ["z"]
    assert [name for name, _ in tombs] == ["a"]
    assert versions["z"] > tombs[0][1]


def test_unsupported_database_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(SourceError, match="bad database URL"):
        make_engine("nosuchdb://x/y")
