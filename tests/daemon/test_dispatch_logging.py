"""The dispatch's log lines (issue 17): a line per fire for a small dispatch, one summary line
for a large one (a line per fire was half of a fire's CPU at 100,000 entries), every fire still
in the fire log and in DEBUG lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beat.dispatch import LOG_EACH_MAX, Dispatcher
from beat.entries import Entry
from beat.planner import Fire, first_state
from beat.state import StateStore
from beat.time.schedules import Interval
from taskqueue.message import fire_id
from taskqueue.redis import RedisBroker

START = datetime(2026, 1, 1, tzinfo=UTC)
WHEN = START + timedelta(minutes=1)


def _dispatch(
    tmp_path: Path, redis_url: str, n: int, caplog: pytest.LogCaptureFixture, level: int
) -> tuple[list[logging.LogRecord], StateStore]:
    schedule = Interval(timedelta(minutes=1), START, ZoneInfo("UTC"))
    entries = {f"e{i}": Entry(name=f"e{i}", task="noop", schedule=schedule) for i in range(n)}
    fires = [Fire(name, WHEN, fire_id(name, WHEN)) for name in entries]
    broker = RedisBroker(redis_url)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.upsert_new([first_state(e, START, None) for e in entries.values()])
    try:
        with caplog.at_level(level, logger="beat.dispatch"):
            result = Dispatcher().dispatch(broker, store, entries, fires, WHEN)
    finally:
        broker.close()
    assert result.sent == n
    return [r for r in caplog.records if r.name == "beat.dispatch"], store


def test_a_small_dispatch_logs_each_fire_at_info(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    records, store = _dispatch(tmp_path, redis_url, LOG_EACH_MAX, caplog, logging.INFO)
    store.close()
    assert len(records) == LOG_EACH_MAX
    assert {r.levelno for r in records} == {logging.INFO}
    assert {r.__dict__["fire_id"] for r in records} == {
        fire_id(f"e{i}", WHEN) for i in range(LOG_EACH_MAX)
    }


def test_a_large_dispatch_logs_one_summary_line_and_keeps_every_fire_traceable(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    n = LOG_EACH_MAX + 1
    records, store = _dispatch(tmp_path, redis_url, n, caplog, logging.INFO)
    try:
        (summary,) = records
        assert summary.levelno == logging.INFO
        message = summary.getMessage()
        assert message.startswith(f"dispatched {n} fires (0 duplicates, 0 failed) in ")
        assert f"scheduled for {WHEN.isoformat()}, lateness up to 0.0 ms" in message
        # The fire log has every fire by id (beat history).
        for i in (0, n - 1):
            (line,) = store.fire_log(f"e{i}", 10)
            assert (line.fire_id, line.outcome) == (fire_id(f"e{i}", WHEN), "sent")
    finally:
        store.close()


def test_a_large_dispatch_logs_each_fire_at_debug(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    n = LOG_EACH_MAX + 1
    records, store = _dispatch(tmp_path, redis_url, n, caplog, logging.DEBUG)
    store.close()
    each = [r for r in records if r.levelno == logging.DEBUG]
    assert {r.__dict__["fire_id"] for r in each} == {fire_id(f"e{i}", WHEN) for i in range(n)}
    assert [r.levelno for r in records if r not in each] == [logging.INFO]
