"""The pure views the dashboard adds: every fire in a window (with and without the cache the
dashboard keeps), and the zone's DST changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.planner import first_state, upcoming
from beat.time import zones
from beat.time.cron_dst import changes_between
from beat.views.entries import FireCache, fires_between

NOW = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def _entries(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    path = tmp_path / "schedules.yaml"
    path.write_text(
        """timezone: America/New_York
entries:
  fixed: {task: t, cron: "30 2 * * *"}
  wild: {task: t, cron: "*/20 * * * *"}
  often: {task: t, every: 7m, start: 2026-01-01T00:00:00Z}
  once: {task: t, at: 2026-03-08T02:30}
  paused: {task: t, every: 1m, enabled: false}
"""
    )
    return load_config(path).entries


def _expected(entries: dict, states: dict, end: datetime) -> list[tuple[datetime, str]]:  # type: ignore[type-arg]
    out = []
    for entry in entries.values():
        if entry.enabled:
            for fire in upcoming(entry, first_state(entry, NOW, states.get(entry.name))):
                if fire > end:
                    break
                out.append((fire, entry.name))
    return sorted(out)


def test_fires_between_is_every_fire_in_order(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    end = NOW + timedelta(hours=24)
    expected = _expected(entries, {}, end)
    fires, more = fires_between(entries, {}, {}, NOW, end, limit=10_000)
    assert fires == expected and not more
    assert ("2026-03-08T07:00:00+00:00", "fixed") in [(f.isoformat(), n) for f, n in fires]
    assert all(name != "paused" for _, name in fires)
    cut, more = fires_between(entries, {}, {}, NOW, end, limit=10)
    assert cut == expected[:10] and more


def test_the_cache_follows_state_changes(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    end = NOW + timedelta(hours=24)
    cache = FireCache()
    states = {n: first_state(e, NOW, None) for n, e in entries.items()}
    first, _ = fires_between(entries, states, {}, NOW, end, limit=50, cache=cache)
    again, _ = fires_between(entries, states, {}, NOW, end, limit=300, cache=cache)
    assert again == _expected(entries, states, end)[:300] and again[:50] == first
    # "wild" fired its first two fires: the cache recomputes it from its new state.
    fired = [f for f, n in first if n == "wild"][:2]
    states["wild"] = replace(states["wild"], last_fire=fired[-1])
    after, _ = fires_between(entries, states, {}, NOW, end, limit=300, cache=cache)
    assert after == _expected(entries, states, end)[:300]
    assert all(not (n == "wild" and f <= fired[-1]) for f, n in after)


def test_changes_between() -> None:
    ny = zones.get("America/New_York")
    changes = changes_between(
        ny, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert changes == [
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), timedelta(hours=1)),
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), timedelta(hours=-1)),
    ]
    assert changes_between(zones.get("UTC"), NOW, NOW + timedelta(days=800)) == []
    # [start, end): a change at the end is not in the window
    assert changes_between(ny, NOW, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)) == []


def test_batch_status_reads_agree_with_single_ones(broker_url: str) -> None:
    """The entries page reads its outcomes in one go (a Redis pipeline, one SQLite read):
    the same answers as one get_status per id, unknown ids left out, QUEUED from messages."""
    from beat.views.broker import BrokerReader
    from taskqueue.message import Message
    from taskqueue.records import TaskState, TaskStatus
    from taskqueue.urls import open_broker

    broker = open_broker(broker_url)
    try:
        now = datetime.now(UTC)
        broker.set_status(TaskStatus("done", "t", TaskState.SUCCESS, 1, result={"n": 1},
                                     started_at=now, finished_at=now))  # fmt: skip
        broker.set_status(TaskStatus("bad", "t", TaskState.FAILURE, 2, error="ValueError: x"))
        broker.enqueue_once(Message(id="waiting", task="t", queue="q"))
        ids = ["done", "bad", "waiting", "never", "done"]
        reader = BrokerReader(broker_url)
        try:
            batch = reader.task_statuses(ids)
            single = {i: s for i in ids if (s := reader.task_status(i)) is not None}
        finally:
            reader.close()
        assert batch == single
        assert set(batch) == {"done", "bad", "waiting"}
        assert batch["waiting"].state == TaskState.QUEUED
    finally:
        broker.close()
