"""Rows identical but for their names are validated once (issue 17); what depends on the name
is still checked for each row: the name itself, ``H`` crons, the largest message's size."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from beat.config.entry import validate_entry
from beat.messages import largest_message_size
from beat.sources.sql.schema import ensure_schema, make_engine
from beat.sources.sql.table import Snapshot, SqlSource
from beat.time.bounds import Bounded
from beat.time.schedules import shared_cron
from taskqueue.message import MAX_MESSAGE_BYTES
from tests.sql_source.raw import raw_sql

UTC = ZoneInfo("UTC")


def _rows(url: str, names: list[str], columns: dict[str, str]) -> Snapshot:
    """A table of rows ``names`` that all have ``columns``, read by a new source."""
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    keys = ", ".join(f'"{key}"' for key in columns)
    values = ", ".join("'" + value.replace("'", "''") + "'" for value in columns.values())
    raw_sql(
        url,
        *[f"INSERT INTO beat_entries (name, {keys}) VALUES ('{n}', {values})" for n in names],
    )
    source = SqlSource(url, zone=UTC)
    try:
        return source.load_all()
    finally:
        source.close()


def test_an_invalid_name_is_reported_though_its_row_matches_a_valid_one(db_url: str) -> None:
    names = ["a-longer-name", "bad name", "ok"]  # the bad name is not the longest
    snapshot = _rows(db_url, names, {"task": "t", "every": "5s"})
    assert sorted(snapshot.entries) == ["a-longer-name", "ok"]
    [problem] = snapshot.problems
    assert problem.path == "entries.bad name" and "invalid entry name" in problem.message


@pytest.mark.parametrize("end", [None, "2099-01-01T00:00"])  # bounded: H inside Bounded
def test_each_h_cron_row_gets_the_schedule_of_its_own_name(db_url: str, end: str | None) -> None:
    names = [f"job-{i}" for i in range(12)]
    columns = {"task": "t", "cron": "H * * * *"} | ({"end": end} if end else {})
    snapshot = _rows(db_url, names, columns)
    assert not snapshot.problems
    for name in names:
        schedule = snapshot.entries[name].schedule
        inner = schedule.inner if isinstance(schedule, Bounded) else schedule
        assert inner == shared_cron("H * * * *", UTC, name)
    # The names do spread over several minutes (else the test shows nothing).
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len({next(snapshot.entries[n].schedule.iter_after(start)) for n in names}) > 1


def _kwargs_at_the_limit(name: str) -> str:
    """kwargs whose encoding makes ``name``'s largest message exactly the size limit."""
    data = {"task": "t", "every": "5s", "kwargs": {"blob": ""}}
    base = largest_message_size(validate_entry(name, data, zone=UTC, defaults={}))
    return json.dumps({"blob": "x" * (MAX_MESSAGE_BYTES - base)})


def test_a_longer_name_on_a_row_at_the_size_limit_is_too_large_to_send(db_url: str) -> None:
    columns = {"task": "t", "every": "5s", "kwargs": _kwargs_at_the_limit("a")}
    snapshot = _rows(db_url, ["a", "b", "long-name", "c"], columns)
    assert sorted(snapshot.entries) == ["a", "b", "c"]
    [problem] = snapshot.problems
    assert problem.path == "entries.long-name.kwargs"
    assert "too large to send" in problem.message


def test_rows_alike_but_for_names_and_arguments_are_checked_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row whose settings are an earlier row's, but for its name and its own arguments, is
    not checked as a whole again: only its arguments and what depends on its name are."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    engine.dispose()
    crons = ["H * * * *", "*/5 * * * *"]
    raw_sql(
        db_url,
        *[
            "INSERT INTO beat_entries (name, task, cron, args, kwargs) "
            f"VALUES ('job-{i}', 't', '{crons[i % 2]}', '[{i}]', '{{\"id\": {i}}}')"
            for i in range(120)
        ],
    )
    import beat.sources.sql.shapes as shapes

    checked: list[str] = []

    def counted(name: str, *args: object, **kwargs: object) -> object:
        checked.append(name)
        return validate_entry(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(shapes, "validate_entry", counted)
    source = SqlSource(db_url, zone=UTC)
    try:
        snapshot = source.load_all()
    finally:
        source.close()
    assert not snapshot.problems and len(snapshot.entries) == 120
    assert len(checked) == 2, checked  # one row of each cron
    for i in range(120):
        entry = snapshot.entries[f"job-{i}"]
        assert entry.args == (i,) and entry.kwargs == {"id": i}
        assert entry.schedule == shared_cron(crons[i % 2], UTC, f"job-{i}")
