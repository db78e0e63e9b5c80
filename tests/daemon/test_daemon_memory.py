"""What a running beat keeps per entry (issue 17): one record per entry in one dict, not one
dict per holder, sharing the loaded spec; the config shows the roster's entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.leader import LeaderElector
from beat.service import BeatService
from taskqueue.redis import RedisBroker
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_running_beat_keeps_one_record_per_entry(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    lines = [f"  e{i}: {{task: noop, every: 10s}}" for i in range(20)]
    cfg.write_text("entries:\n" + "\n".join(lines) + "\n")
    config = load_config(cfg)
    loaded = config.entries
    spec, e10 = loaded["e19"].spec, loaded["e10"]
    broker = RedisBroker(redis_url)
    elector = LeaderElector(
        lambda: broker, owner="a", ttl=timedelta(seconds=30), close_broker=False
    )
    service = BeatService(
        config,
        str(tmp_path / "schedule.db"),
        broker=broker,
        clock=FakeClock(T0),
        elector=elector,
        lookahead=timedelta(0),
    )
    try:
        service.start()
        # The loaded dict is handed over and emptied as its entries become records (their
        # spec shared, not copied); the config shows the roster's entries, built per access.
        assert loaded == {}
        assert service.config.entries is service.entries
        assert len(service.entries) == 20 and len(service.index) == 20
        assert service.entries["e10"].spec is spec
        assert service.entries["e10"] == e10 and service.entries["e10"] is not e10
        # A reload that changes nothing keeps the records.
        service.apply_config(load_config(cfg), T0)
        assert service.config.entries is service.entries
        assert len(service.index) == 20
    finally:
        service.close()
        broker.close()
