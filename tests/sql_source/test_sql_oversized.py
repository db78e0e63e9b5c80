"""SQL-source entries too big to send are refused like any invalid entry (issue 11, item 3)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from beat.entries_api import EntryStore
from beat.errors import ConfigError
from beat.sources.sql.table import SqlSource
from taskqueue.message import MAX_MESSAGE_BYTES
from tests.sql_source.raw import raw_sql
from tests.sql_source.test_sql_source_changes import _seed

BERLIN = ZoneInfo("Europe/Berlin")
BLOB = "x" * (MAX_MESSAGE_BYTES + 10)


def test_entries_add_refuses_an_entry_too_big_to_send(db_url: str) -> None:
    with EntryStore(db_url, BERLIN) as store:
        with pytest.raises(ConfigError) as exc:
            store.add("big", {"task": "t", "every": "1m", "kwargs": {"blob": BLOB}})
        assert store.names() == []
    [problem] = exc.value.problems
    assert problem.path == "entries.big.kwargs"
    assert f"over the limit of {MAX_MESSAGE_BYTES} bytes" in problem.message


def test_a_row_too_big_to_send_is_reported_and_skipped(db_url: str) -> None:
    _seed(db_url, 2)
    raw_sql(db_url, f"UPDATE beat_entries SET args = '{json.dumps([BLOB])}' WHERE name = 'e1'")
    source = SqlSource(db_url, zone=BERLIN)
    try:
        snapshot = source.load_all()
    finally:
        source.close()
    assert sorted(snapshot.entries) == ["e0"]
    assert [p.path for p in snapshot.problems] == ["entries.e1.args"]
    assert "too large to send" in snapshot.problems[0].message
