"""``beat pause``: fires of the entry already enqueued ahead of their instant (lookahead) are
revoked by the leader when it follows the pause, so a paused entry runs nothing more. In-process
service, injected clock, real Redis and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from taskqueue.records import TaskState
from tests.daemon.conftest import drain_url
from tests.policies.conftest import lookahead_beat

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_pausing_revokes_the_fires_enqueued_ahead(tmp_path: Path, redis_url: str) -> None:
    beat, broker, clock = lookahead_beat(
        tmp_path,
        redis_url,
        T0,
        f"  e0: {{task: noop, every: 10s, start: {T0.isoformat()}}}\n"
        f"  e1: {{task: noop, every: 10s, start: {T0.isoformat()}}}\n",
    )
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
