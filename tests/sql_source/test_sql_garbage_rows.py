"""A garbage row (raw SQL can write anything) is one problem naming the source, the row and
the field; every other row still loads, at start-up and on a poll (never a crash loop)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from beat.entries_api import EntryStore
from beat.sources.sql.poller import SourcePoller
from beat.sources.sql.table import SqlSource
from tests.sql_source.raw import raw_sql

UTC = ZoneInfo("UTC")
# JSON nested deeper than any decoder recurses (json.loads raises RecursionError on it).
DEEP = "[" * 100_000 + "]" * 100_000


def _garbage(url: str, name: str) -> None:
    raw_sql(
        url,
        "INSERT INTO beat_entries (name, task, every, kwargs, enabled) "
        f"VALUES ('{name}', 't', '5s', '{{\"a\": {DEEP}}}', TRUE)",
        "INSERT INTO beat_entries (name, task, every, args, enabled) "
        f"VALUES ('{name}-args', 't', '5s', '{DEEP}', TRUE)",
    )


def test_deeply_nested_json_is_a_problem_of_its_row_at_start_up(db_url: str) -> None:
    with EntryStore(db_url) as store:
        store.add("before", {"task": "t", "every": "5s"})
    _garbage(db_url, "deep")
    with EntryStore(db_url) as store:
        store.add("after", {"task": "t", "every": "5s", "kwargs": {"a": 1}})
    source = SqlSource(db_url, zone=UTC)
    try:
        snapshot = source.load_all()
    finally:
        source.close()
    assert sorted(snapshot.entries) == ["after", "before"]
    problems = sorted(snapshot.problems, key=lambda p: p.path)
    assert [p.path for p in problems] == ["entries.deep-args.args", "entries.deep.kwargs"]
    assert all(p.file == source.name for p in problems)
    assert all("nested too deeply" in p.message for p in problems), problems


def test_deeply_nested_json_written_while_running_is_a_problem_not_a_crash(db_url: str) -> None:
    with EntryStore(db_url) as store:
        store.add("a", {"task": "t", "every": "5s"})
    poller = SourcePoller(SqlSource(db_url, zone=UTC), {})
    try:
        poller.initial()
        _garbage(db_url, "deep")
        with EntryStore(db_url) as store:
            store.add("b", {"task": "t", "every": "5s"})
        delta = poller.poll()
    finally:
        poller.source.close()
    assert delta is not None and sorted(delta.changed) == ["b"]
    assert sorted(p.path for p in poller.problems) == [
        "entries.deep-args.args",
        "entries.deep.kwargs",
    ]
