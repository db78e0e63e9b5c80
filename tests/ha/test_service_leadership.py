"""The daemon loop and the lease, in process (real Redis, real SQLite state, injected clock):
a fenced dispatch stands the beat by with nothing pushed; a standby sends nothing; a new leader
continues from the state the previous leader recorded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from beat.config import load_config
from beat.leader import LeaderElector
from beat.service import BeatService
from daemonkit.metrics import BeatMetrics, new_registry
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_ids, drain_url
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TTL = timedelta(seconds=30)  # long: nothing here may expire on its own


def write(tmp_path: Path) -> Path:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        f"entries:\n  job:\n    task: noop\n    every: 10s\n    start: {T0.isoformat()}\n"
        "    catch_up: all\n"
    )
    return cfg


def service(
    tmp_path: Path,
    redis_url: str,
    clock: FakeClock,
    owner: str,
    metrics: BeatMetrics | None = None,
) -> BeatService:
    broker = RedisBroker(redis_url)
    elector = LeaderElector(lambda: broker, owner=owner, ttl=TTL, close_broker=False)
    cfg = tmp_path / "schedules.yaml"
    return BeatService(
        load_config(cfg if cfg.exists() else write(tmp_path)),
        str(tmp_path / "schedule.db"),
        broker=broker,
        clock=clock,
        elector=elector,
        lookahead=timedelta(0),
        metrics=metrics,
    )


def leader_gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("beat_leader")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_fenced_dispatch_stands_by_and_pushes_nothing(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(at(0.5))
    registry = new_registry()
    svc = service(tmp_path, redis_url, clock, "a", BeatMetrics(registry))
    svc.start()
    assert svc.leading
    assert leader_gauge(registry) == 1
    clock.now = at(10.001)
    assert svc.tick() == 1
    # Another beat takes the lease while this one does not notice (its elector thread is not
    # running: as if paused). Its next dispatch carries a stale token.
    thief = RedisBroker(redis_url)
    token = svc.elector.token
    assert token is not None
    thief.release_lease("beat", "a", token)
    stolen = thief.acquire_lease("beat", "b", TTL)
    assert stolen is not None and stolen > token
    clock.now = at(20.001)
    with caplog.at_level(logging.INFO):
        assert svc.tick() == 0
    assert not svc.leading and not svc.elector.is_leader
    assert leader_gauge(registry) == 0
    lost = [r.getMessage() for r in caplog.records if "lost lease" in r.getMessage()]
    assert len(lost) == 1 and "fenced by the broker" in lost[0] and "held by b" in lost[0]
    assert not [r for r in caplog.records if r.exc_info]
    assert svc.tick() == 0  # standby: sends nothing
    svc.close()
    assert sorted(drain_ids(thief)) == [f"job@{int(at(10).timestamp() * 1000)}"]
    thief.close()


def test_new_leader_continues_from_the_shared_state(tmp_path: Path, redis_url: str) -> None:
    clock = FakeClock(at(0.5))
    a = service(tmp_path, redis_url, clock, "a")
    b = service(tmp_path, redis_url, clock, "b")
    a.start()
    b.start()
    assert a.leading and not b.leading
    for second in (10, 20, 30):
        clock.now = at(second + 0.001)
        assert a.tick() == 1
        assert b.tick() == 0
    # The standby follows config edits (here: a new entry) while it waits.
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        cfg.read_text() + f"  extra:\n    task: noop\n    every: 10s\n    start: {T0.isoformat()}\n"
    )
    b.request_reload()
    b.maybe_reload()
    assert "extra" in b.entries
    a.close()  # releases the lease
    b.elector.step()
    clock.now = at(40.001)
    # b reloads the state a recorded: it sends 40 only, not 10-30 again (and not 40 twice),
    # and the entry it learned of while standing by.
    assert b.tick() == 2
    assert b.leading
    assert b.stats_duplicates == 0  # without the reload it would re-plan 10-30 (refused)
    b.close()
    seen = drain_url(redis_url)
    jobs = sorted(
        int(k.rsplit("@", 1)[1]) // 1000 - int(T0.timestamp()) for k in seen if "job" in k
    )
    assert jobs == [10, 20, 30, 40]
    assert [k for k in seen if k.startswith("extra@")] == [
        f"extra@{int(at(40).timestamp() * 1000)}"
    ]
    assert max(seen.values()) == 1
