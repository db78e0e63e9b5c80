"""``beat pause``: fires of the entry already enqueued ahead of their instant (lookahead) are
revoked by the leader when it follows the pause, so a paused entry runs nothing more. In-process
service, injected clock, real Redis and SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from taskqueue.records import TaskState
from tests.daemon.conftest import drain_url
from tests.policies.conftest import T0, lookahead_beat


def test_pausing_revokes_the_fires_enqueued_ahead(tmp_path: Path, redis_url: str) -> None:
    every_10s = "task: noop, every: 10s"
    beat, broker, clock = lookahead_beat(tmp_path, redis_url, {"e0": every_10s, "e1": every_10s})
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
