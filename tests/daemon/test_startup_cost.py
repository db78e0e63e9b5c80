"""Start-up work per entry (issue 17: a million entries ready in seconds): an entry that uses
no run policy (overlap, pause_on_failure) is indexed and persisted from its record, without an
Entry or an EntryState built for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import beat.records
from beat.config import load_config
from beat.entries import Entry
from beat.leader import LeaderElector
from beat.service import BeatService
from beat.state_rows import EntryState
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import load_states
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N = 200


def test_start_up_builds_no_entry_or_state_per_entry(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "schedules.yaml"
    lines = [f"  e{i}: {{task: noop, every: 10s}}" for i in range(N)]
    lines += ["  gated: {task: noop, every: 10s, overlap: skip}"]
    cfg.write_text("entries:\n" + "\n".join(lines) + "\n")
    config = load_config(cfg)  # the loaded entries are the source's, built before start-up
    built = {"entries": 0, "states": 0}
    new, init = beat.records._new, EntryState.__init__

    def count_new(cls: type[Any]) -> Any:
        if cls is Entry:
            built["entries"] += 1
        return new(cls)

    def count_init(self: EntryState, *args: Any, **kwargs: Any) -> None:
        built["states"] += 1
        init(self, *args, **kwargs)

    broker = RedisBroker(redis_url)
    elector = LeaderElector(
        lambda: broker, owner="a", ttl=timedelta(seconds=30), close_broker=False
    )
    state = tmp_path / "schedule.db"
    service = BeatService(
        config, str(state), broker=broker, clock=FakeClock(T0), elector=elector,
        lookahead=timedelta(0),
    )  # fmt: skip
    try:
        monkeypatch.setattr(beat.records, "_new", count_new)
        monkeypatch.setattr(EntryState, "__init__", count_init)
        service.start()
        service.save_held_states()  # what run() does once the beat is ready
        monkeypatch.undo()
        # A few per distinct spec or per gated entry, none per plain entry.
        assert built["entries"] < 10, built
        assert built["states"] < 10, built
        assert len(service.index) == N + 1
    finally:
        service.close()
        broker.close()
    # Every new entry's first_seen is persisted once ready, before its first fire.
    stored = load_states(state)
    assert len(stored) == N + 1
    assert {s.first_seen for s in stored.values()} == {T0}
    assert all(s.last_fire is None for s in stored.values())
    assert stored["e3"].content_hash == load_config(cfg).entries["e3"].content_hash()
