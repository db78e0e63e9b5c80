"""``beat pause``: fires of the entry already enqueued ahead of their instant (lookahead) are
revoked by the leader when it follows the pause, so a paused entry runs nothing more. In-process
service, injected clock, real Redis and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.service import BeatService
from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_url
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_pausing_revokes_the_fires_enqueued_ahead(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        f"  e0: {{task: noop, every: 10s, start: {T0.isoformat()}}}\n"
        f"  e1: {{task: noop, every: 10s, start: {T0.isoformat()}}}\n"
    )
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(cfg), str(tmp_path / "s.db"), broker=broker, clock=clock,
        lookahead=timedelta(seconds=3),
    )  # fmt: skip
    beat.start()
    clock.now = T0 + timedelta(seconds=8)
    assert beat.tick() == 2  # e0@T0+10s and e1@T0+10s, enqueued ahead
    beat.store.set_pause("e0", True, "disk full", clock.now)
    clock.now = T0 + timedelta(seconds=9)
    beat.tick()
    status = broker.get_status("e0@1767225610000")
    beat.close()
    assert status is not None and status.state is TaskState.REVOKED
    assert drain_url(redis_url) == {"e1@1767225610000": 1}
