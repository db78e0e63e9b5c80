"""What start-up leaves until the beat is ready ("beat started"), before its first tick
(issue 17, item 3): new entries' state rows, and the GC's freeze. A beat killed at any moment
in between loses nothing (a kill -9 is a beat left without close())."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.leader import LeaderElector
from beat.service import BeatService
from taskqueue.message import fire_id
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_deliveries, load_states
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N = 50


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "schedules.yaml"
    lines = [f"  e{i}: {{task: noop, every: 10s}}" for i in range(N)]
    cfg.write_text("entries:\n" + "\n".join(lines) + "\n")
    return cfg


def _beat(tmp_path: Path, broker: RedisBroker, clock: FakeClock, owner: str) -> BeatService:
    elector = LeaderElector(
        lambda: broker, owner=owner, ttl=timedelta(seconds=1), close_broker=False
    )
    return BeatService(
        load_config(_config(tmp_path)), str(tmp_path / "schedule.db"), broker=broker,
        clock=clock, elector=elector, lookahead=timedelta(0),
    )  # fmt: skip


def test_new_entries_rows_are_written_after_ready_before_the_first_tick(
    tmp_path: Path, redis_url: str
) -> None:
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0)
    beat = _beat(tmp_path, broker, clock, "a")
    try:
        beat.start()  # up to "beat started"
        assert load_states(tmp_path / "schedule.db") == {}
        clock.now = T0 + timedelta(seconds=10)
        beat.tick()  # the rows come first: its fires are recorded on them
        stored = load_states(tmp_path / "schedule.db")
        assert len(stored) == N
        assert {s.first_seen for s in stored.values()} == {T0}
        assert {s.last_fire for s in stored.values()} == {T0 + timedelta(seconds=10)}
    finally:
        beat.close()
        broker.close()


def test_a_beat_killed_before_or_after_writing_them_loses_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0)
    killed = _beat(tmp_path, broker, clock, "a")
    killed.start()
    killed.elector.stop(release=True)  # the lease a killed beat would leave to expire
    # Killed before writing them: it sent nothing, and the next beat starts them anew.
    clock.now = T0 + timedelta(seconds=25)
    second = _beat(tmp_path, broker, clock, "b")
    second.start()
    second.save_held_states()  # what run() does once the beat is ready
    second.elector.stop(release=True)
    assert drain_deliveries(broker) == []
    stored = load_states(tmp_path / "schedule.db")
    assert {s.first_seen for s in stored.values()} == {T0 + timedelta(seconds=25)}
    # Killed after writing them: the next beat keeps them (the phase is the second's) and
    # fires what the second beat left due (catch_up: latest), once per entry.
    clock.now = T0 + timedelta(seconds=40)
    third = _beat(tmp_path, broker, clock, "c")
    try:
        third.start()
        third.tick()
        sent = sorted(d.message_id for d in drain_deliveries(broker))
        assert sent == sorted(fire_id(f"e{i}", T0 + timedelta(seconds=35)) for i in range(N))
        stored = load_states(tmp_path / "schedule.db")
        assert {s.first_seen for s in stored.values()} == {T0 + timedelta(seconds=25)}
    finally:
        third.close()
        broker.close()


def test_the_gc_freeze_waits_until_ready(tmp_path: Path, redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    beat = _beat(tmp_path, broker, FakeClock(T0), "a")
    gc.unfreeze()
    try:
        beat.start()
        assert gc.get_freeze_count() == 0
        beat.finish_start()  # what run() does once the beat is ready
        assert gc.get_freeze_count() > 0
        assert len(load_states(tmp_path / "schedule.db")) == N
    finally:
        gc.unfreeze()
        beat.close()
        broker.close()
