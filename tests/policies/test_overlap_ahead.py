"""``overlap: skip | buffer_one`` fires are enqueued ahead (lookahead) when their entry's
previous fire is known to be over (none sent, or its task state final), as ``allow`` fires are;
only the others wait for their instant to be decided. In-process service, injected clock, real
Redis and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.service import BeatService
from taskqueue.records import TaskState, TaskStatus
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_url
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_gated_fires_go_ahead_when_the_previous_one_is_over(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        f"  done: {{task: noop, every: 10s, start: {T0.isoformat()}, overlap: skip}}\n"
        f"  busy: {{task: noop, every: 10s, start: {T0.isoformat()}, overlap: skip}}\n"
    )
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(cfg), str(tmp_path / "s.db"), broker=broker, clock=clock,
        lookahead=timedelta(seconds=3),
    )  # fmt: skip
    beat.start()  # first seen after T0: the first fires are at T0+10s
    clock.now = T0 + timedelta(seconds=8)
    assert beat.tick() == 2, "no previous fire: both are sent ahead of their instant"
    broker.set_status(TaskStatus("done@1767225610000", "noop", TaskState.SUCCESS, 1))

    clock.now = T0 + timedelta(seconds=18)
    assert beat.tick() == 1, "done's previous fire ended: its next goes ahead; busy's waits"
    clock.now = T0 + timedelta(seconds=20, milliseconds=1)
    assert beat.tick() == 0  # busy's fire is decided at its instant: its previous is queued
    beat.close()
    assert sorted(drain_url(redis_url)) == [
        "busy@1767225610000",
        "done@1767225610000",
        "done@1767225620000",
    ]
