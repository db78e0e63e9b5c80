"""Downtime followed by each catch-up policy: the real service on real Redis and a real SQLite
state file, with an injected clock so the instants are exact (the service takes "now" from it).

Entry: every 10s from 00:00:00Z, grace 5s. Beat runs 00:00:00.5-00:00:20, is down, restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.config import load_config
from beat.service import BeatService
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_ids, drain_url
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# The policies are about instants before "now": no fire is enqueued ahead of time here.
NO_LOOKAHEAD = timedelta(0)


def fire_seconds(ids: object) -> list[int]:
    return sorted(int(str(i).rsplit("@", 1)[1]) // 1000 - int(T0.timestamp()) for i in ids)  # type: ignore[attr-defined]


def run_with_downtime(
    tmp_path: Path, redis_url: str, policy: str, restart_at: timedelta
) -> list[int]:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        "  job:\n"
        "    task: noop\n"
        "    every: 10s\n"
        f"    start: {T0.isoformat()}\n"
        f"    catch_up: {policy}\n"
        "    grace: 5s\n"
    )
    state = str(tmp_path / "schedule.db")
    clock = FakeClock(T0 + timedelta(milliseconds=500))
    first = BeatService(
        load_config(cfg), state, broker=RedisBroker(redis_url), clock=clock, lookahead=NO_LOOKAHEAD
    )
    first.start()
    for second in (10, 20):
        clock.now = T0 + timedelta(seconds=second, milliseconds=1)
        first.tick()
    first.close()

    clock.now = T0 + restart_at
    second = BeatService(
        load_config(cfg), state, broker=RedisBroker(redis_url), clock=clock, lookahead=NO_LOOKAHEAD
    )
    second.start()
    second.tick()
    second.close()
    seen = drain_url(redis_url)
    assert max(seen.values()) == 1
    return fire_seconds(seen)


@pytest.mark.parametrize(
    ("policy", "restart_s", "expected"),
    [
        # restart at 63s: 60 is 3s late (on time, within grace); 30, 40, 50 are missed
        ("all", 63, [10, 20, 30, 40, 50, 60]),
        ("latest", 63, [10, 20, 60]),
        ("none", 63, [10, 20, 60]),
        # restart at 68s: 60 is 8s late: every pending fire is missed
        ("all", 68, [10, 20, 30, 40, 50, 60]),
        ("latest", 68, [10, 20, 60]),
        ("none", 68, [10, 20]),
    ],
)
def test_catch_up_policies_after_downtime(
    tmp_path: Path, redis_url: str, policy: str, restart_s: int, expected: list[int]
) -> None:
    assert run_with_downtime(tmp_path, redis_url, policy, timedelta(seconds=restart_s)) == expected


def test_catch_up_all_is_capped_at_100(tmp_path: Path, redis_url: str) -> None:
    fired = run_with_downtime(tmp_path, redis_url, "all", timedelta(seconds=2018))
    # fires 30..2010 were missed (199 of them); only the 100 most recent are replayed
    assert fired == [10, 20, *range(1020, 2011, 10)]


def test_restart_keeps_phase_and_never_fires_immediately(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text("entries:\n  job:\n    task: noop\n    every: 10s\n")  # anchored at first seen
    state = str(tmp_path / "schedule.db")
    seen_at = T0 + timedelta(seconds=3)
    clock = FakeClock(seen_at)
    svc = BeatService(
        load_config(cfg), state, broker=RedisBroker(redis_url), clock=clock, lookahead=NO_LOOKAHEAD
    )
    svc.start()
    assert svc.tick() == 0  # new entry: nothing "immediately"
    clock.now = seen_at + timedelta(seconds=10, milliseconds=1)
    assert svc.tick() == 1
    svc.close()
    # restart 4 s later: the phase is still first-seen + k * 10s
    clock.now = seen_at + timedelta(seconds=14)
    svc = BeatService(
        load_config(cfg), state, broker=RedisBroker(redis_url), clock=clock, lookahead=NO_LOOKAHEAD
    )
    svc.start()
    assert svc.tick() == 0
    clock.now = seen_at + timedelta(seconds=20, milliseconds=1)
    assert svc.tick() == 1
    svc.close()
    broker = RedisBroker(redis_url)
    assert fire_seconds(drain_ids(broker)) == [13, 23]
    broker.close()
