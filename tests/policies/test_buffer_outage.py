"""``overlap: buffer_one``: a waiting fire released (its predecessor ended) whose push fails
stays buffered and is sent once the broker is back. A real outage: the private redis-server is
killed just as the release is pushed (the one moment that cannot be hit from outside), then
started again with its data (AOF). The service runs in-process with an injected clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from beat.config import load_config
from beat.service import BeatService
from taskqueue.records import EncodedMessage, TaskState, TaskStatus
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_url
from tests.fake_clock import FakeClock
from tests.faults import procs
from tests.faults.procs import RedisServer

private_redis = procs.private_redis

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class OutageAtPush(RedisBroker):
    """The real broker; when armed, its next push first kills the server (a real outage)."""

    server: RedisServer | None = None

    def enqueue_encoded(self, items: Sequence[EncodedMessage], **kwargs: Any) -> list[bool]:
        if self.server is not None:
            self.server.kill()
            self.server = None
        return super().enqueue_encoded(items, **kwargs)


def test_a_released_buffered_fire_survives_a_failed_push(
    tmp_path: Path, private_redis: Any
) -> None:
    server: RedisServer = private_redis()
    url = server.url()
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        f"  e0: {{task: noop, every: 10s, start: {T0.isoformat()}, overlap: buffer_one, "
        "grace: 1m}\n"
    )
    broker = OutageAtPush(url)
    clock = FakeClock(T0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(cfg), str(tmp_path / "s.db"), broker=broker, clock=clock, lookahead=timedelta(0)
    )
    beat.start()  # first seen after T0: its first fire is T0+10s
    clock.now = T0 + timedelta(seconds=10, milliseconds=1)
    beat.tick()  # e0@T0+10s sent; no worker, so it stays queued
    clock.now = T0 + timedelta(seconds=20, milliseconds=1)
    beat.tick()  # e0@T0+20s waits on it
    assert "e0" in beat.gate.buffered
    first, waiting = "e0@1767225610000", "e0@1767225620000"
    broker.set_status(TaskStatus(first, "noop", TaskState.SUCCESS, 1))

    broker.server = server  # the push of the released fire meets a dead server
    clock.now = T0 + timedelta(seconds=21)
    assert beat.tick() == 0
    server.start()
    clock.now = T0 + timedelta(seconds=22)
    assert beat.tick() == 1  # the broker is back: the waiting fire is sent
    beat.close()
    assert drain_url(url) == {first: 1, waiting: 1}
