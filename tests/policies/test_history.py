"""``beat history``: an entry's recent fires, newest first, from the fire log (written with
the fire record, bounded per entry) and the broker's task states."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.state import EntryState, StateStore
from beat.state_log import FIRE_LOG_KEEP, FireRecord
from tests.daemon.conftest import StartBeat
from tests.policies.conftest import beat_cli, beat_json
from tests.worker.conftest import StartWorker

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(f"entries:\n{body}")
    return path


def test_history_shows_fires_newest_first_with_task_states(
    tmp_path: Path, redis_url: str, start_beat: StartBeat, start_worker: StartWorker
) -> None:
    marks = tmp_path / "marks"
    cfg = config(
        tmp_path,
        f"  e0: {{task: p.run, args: [0.2, '{marks}'], every: 1s, start: 2026-01-01T00:00:00Z}}\n"
        "  bad: {task: p.fail, every: 1s, start: 2026-01-01T00:00:00Z}\n",
    )
    state = tmp_path / "schedule.db"
    start_worker(redis_url)
    beat = start_beat(cfg, state, redis_url)
    beat.wait_for_log("fire e0", count=4)
    time.sleep(1)
    assert beat.stop() == 0

    rows = beat_json(cfg, state, "history", "e0", "-n", "3", "--broker", redis_url)
    assert len(rows) == 3
    instants = [r["scheduled_for"] for r in rows]
    assert instants == sorted(instants, reverse=True), "newest first"
    assert all(r["fire_id"].startswith("e0@") and r["sent_at"] for r in rows)
    done = [r for r in rows if r["state"] == "SUCCESS"]
    assert len(done) >= 2, rows
    assert all(r["runtime_s"] >= 0.2 and r["started_at"] and r["finished_at"] for r in done)

    bad = beat_json(cfg, state, "history", "bad", "-n", "1", "--broker", redis_url)
    assert bad[0]["state"] in ("FAILURE", "DEAD", "QUEUED", "STARTED")
    failed = beat_json(cfg, state, "history", "bad", "--broker", redis_url)
    assert any("p.fail always fails" in (r["error"] or "") for r in failed), failed
    assert "SUCCESS" in beat_cli(cfg, state, "history", "e0", "--broker", redis_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "schedule.db")
    return str(request.getfixturevalue("postgres_url"))


def test_fire_log_is_bounded_newest_first_and_first_outcome_stays(state_url: str) -> None:
    store = StateStore(state_url)
    try:
        store.upsert_new([EntryState("a", None, T0, "h")])
        n = 3 * FIRE_LOG_KEEP
        for i in range(n):
            at = T0 + timedelta(seconds=i)
            store.record_fires([("a", at)], at, [FireRecord("a", at, f"a@{i}", "sent")])
        again = T0 + timedelta(seconds=n - 1)
        store.record_fires([("a", again)], again, [FireRecord("a", again, "x", "duplicate")])
        log = store.fire_log("a", 10_000)
        assert FIRE_LOG_KEEP <= len(log) <= 2 * FIRE_LOG_KEEP
        assert [r.fire_id for r in log[:2]] == [f"a@{n - 1}", f"a@{n - 2}"]
        assert log[0].outcome == "sent", "a later duplicate does not overwrite the first outcome"
        assert store.load()["a"].last_fire == again
    finally:
        store.close()
