"""A real beat pushes a burst ahead (lookahead) and makes it claimable at its instant itself.

No worker claims anything in these tests: before, fires pushed ahead waited in the delayed set
until a worker's claim promoted them (1,000 per claim), so a burst's tail waited on workers.
The checks are structural (where the messages are), not timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.urls import open_broker
from tests.daemon.conftest import BeatProcess, StartBeat, drain_ids
from tests.taskqueue.sqlite_file import sqlite_url

N = 5_000
# Far enough ahead for the beat to load N entries first (a new entry never fires for an
# instant before it was first seen) and push them ahead, on a loaded machine.
LEAD = timedelta(seconds=25)
LOOKAHEAD = "15s"


def _stats(broker: Broker) -> tuple[int, int]:
    """(ready, delayed) of the default queue, as stored."""
    found = [(s.ready, s.delayed) for s in broker.queue_stats() if s.name == "default"]
    return found[0] if found else (0, 0)


def _wait_for(check: Callable[[], bool], until: datetime) -> bool:
    while datetime.now(UTC) < until:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _push_ahead(
    tmp_path: Path, broker_url: str, broker: Broker, start_beat: StartBeat
) -> tuple[BeatProcess, datetime]:
    """A beat with N entries due at one instant, once all N wait in the delayed set (pushed
    ahead of the instant by the lookahead)."""
    due = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    lines = ["entries:"]
    for i in range(N):
        lines += [f"  b{i}:", "    task: noop", f"    at: {due.isoformat()}"]
    config = tmp_path / "schedules.yaml"
    config.write_text("\n".join(lines) + "\n")
    beat = start_beat(config, tmp_path / "schedule.db", broker_url, "--lookahead", LOOKAHEAD)
    beat.wait_for_log("beat started", timeout=60)
    assert _wait_for(lambda: _stats(broker) == (0, N), due), (_stats(broker), beat.log())
    if datetime.now(UTC) >= due:
        pytest.skip("the machine was too slow to push the burst ahead of its instant")
    return beat, due


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_a_burst_pushed_ahead_is_ready_at_its_instant_without_any_claim(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, start_beat: StartBeat
) -> None:
    url = str(request.getfixturevalue("redis_url")) if kind == "redis" else sqlite_url(tmp_path)
    broker = open_broker(url)
    try:
        beat, due = _push_ahead(tmp_path, url, broker, start_beat)
        # Beat itself moves the whole burst to ready at the instant; nothing claims.
        ready = _wait_for(lambda: _stats(broker) == (N, 0), due + timedelta(seconds=10))
        assert ready, (_stats(broker), beat.log()[-3000:])
        assert beat.stop() == 0, beat.log()
        assert "cannot promote" not in beat.log()
        assert drain_ids(broker) == {f"b{i}@{int(due.timestamp() * 1000)}": 1 for i in range(N)}
    finally:
        broker.close()


def test_beat_killed_between_push_and_instant_loses_nothing(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    broker = open_broker(redis_url)
    try:
        beat, due = _push_ahead(tmp_path, redis_url, broker, start_beat)
        beat.kill9()
        # No beat promotes them now: they wait, delayed, for a worker's claim ...
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
        assert _stats(broker) == (0, N)
        # ... which promotes them: every fire, exactly once.
        assert drain_ids(broker) == {f"b{i}@{int(due.timestamp() * 1000)}": 1 for i in range(N)}
    finally:
        broker.close()
