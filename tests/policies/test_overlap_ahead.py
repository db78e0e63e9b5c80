"""``overlap: skip | buffer_one`` fires are enqueued ahead (lookahead) when their entry's
previous fire is known to be over (none sent, or its task state final), as ``allow`` fires are;
only the others wait for their instant to be decided. In-process service, injected clock, real
Redis and SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from taskqueue.records import TaskState, TaskStatus
from tests.daemon.conftest import drain_url
from tests.policies.conftest import T0, lookahead_beat


def test_gated_fires_go_ahead_when_the_previous_one_is_over(tmp_path: Path, redis_url: str) -> None:
    skip_10s = "task: noop, every: 10s, overlap: skip"
    beat, broker, clock = lookahead_beat(tmp_path, redis_url, {"done": skip_10s, "busy": skip_10s})
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
