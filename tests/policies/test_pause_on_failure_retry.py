"""``pause_on_failure``: a pause that cannot be saved (the run state is locked by another
writer) is saved on a later tick, once it can be. The service runs in-process with an injected
clock, on real Redis and a real SQLite state file locked by a real second connection (WAL: the
service still reads; its writes wait out their busy timeout and fail)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.service import BeatService
from beat.state import StateStore
from taskqueue.records import TaskState, TaskStatus
from taskqueue.redis import RedisBroker
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_pause_that_cannot_be_saved_is_saved_later(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        f"  bad: {{task: noop, every: 10s, start: {T0.isoformat()}, pause_on_failure: true}}\n"
    )
    state = tmp_path / "s.db"
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(cfg), str(state), broker=broker, clock=clock, lookahead=timedelta(0)
    )
    beat._store = StateStore(str(state), busy_timeout_ms=100)
    beat.start()  # first seen after T0: its first fire is T0+10s
    clock.now = T0 + timedelta(seconds=10, milliseconds=1)
    assert beat.tick() == 1
    broker.set_status(TaskStatus("bad@1767225610000", "noop", TaskState.FAILURE, 1))

    lock = sqlite3.connect(state, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    clock.now = T0 + timedelta(seconds=11)
    beat.tick()  # the failure is seen; its pause cannot be saved
    assert "bad" not in beat.store.load_pauses()
    lock.execute("ROLLBACK")
    lock.close()

    clock.now = T0 + timedelta(seconds=12)
    beat.tick()
    pause = beat.store.load_pauses().get("bad")
    beat.close()
    assert pause is not None and pause.paused
    assert pause.note == "pause_on_failure: bad@1767225610000 ended in FAILURE"
