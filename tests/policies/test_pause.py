"""``beat pause`` / ``beat resume`` with real processes: a pause is kept in the run state, so it
holds across a restart and a leader change, is shown by ``beat list``, and resuming does not
replay the paused period."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.state_read import read_pause_file
from tests.daemon.conftest import StartBeat, drain_url, write_config
from tests.ha.conftest import fire_instant, wait_for_leader
from tests.policies.conftest import beat_cli, beat_json


def test_pause_survives_restart_and_leader_change_and_resume_replays_nothing(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    config = write_config(tmp_path / "schedules.yaml", 1, extra="catch_up: all")
    state = tmp_path / "schedule.db"
    first = start_beat(config, state, redis_url)
    first.wait_for_log("fire e0")

    out = beat_cli(config, state, "pause", "e0", "--note", "disk full")
    paused_at = read_pause_file(state)["e0"].since  # the instant the CLI wrote
    assert "paused e0 since" in out and "disk full" in out
    listed = beat_json(config, state, "list")
    assert listed[0]["paused"]["note"] == "disk full"
    assert listed[0]["next_fire"] is None
    assert "paused since" in beat_cli(config, state, "list")
    time.sleep(2)

    # A restart, then a leader change: the pause is read from the run state each time.
    assert first.stop() == 0
    a = start_beat(config, state, redis_url)
    b = start_beat(config, state, redis_url)
    leader = wait_for_leader([a, b])
    time.sleep(1.5)
    leader.kill9()
    other = b if leader is a else a
    other.wait_for_log("leader: acquired lease")
    time.sleep(1.5)

    out = beat_cli(config, state, "resume", "e0")
    resumed_at = read_pause_file(state)["e0"].since
    assert "resumed e0" in out
    assert beat_json(config, state, "list")[0]["paused"] is None
    time.sleep(2.5)
    assert other.stop() == 0

    fires = sorted(fire_instant(k) for k in drain_url(redis_url))
    # One fire may have been in flight as the pause was written (a tick already under way).
    during = [f for f in fires if paused_at + timedelta(seconds=1) < f <= resumed_at]
    assert during == [], f"fires while paused (or replayed after resume): {during}"
    assert any(f > resumed_at for f in fires), "the entry fires again after resume"
    assert any(f <= paused_at for f in fires)


def test_store_pause_rows_and_readonly_path_agree(tmp_path: Path) -> None:
    from beat.state import StateStore
    from beat.state_read import read_pause_file

    path = tmp_path / "schedule.db"
    store = StateStore(str(path))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        assert store.set_pause("a", False, "", t0) is None  # resuming what is not paused
        assert store.load_pauses() == {}
        assert store.set_pause("a", True, "first", t0) is None
        before = store.set_pause("a", True, "second", t0 + timedelta(hours=1))
        assert before is not None and before.note == "first"
        kept = store.load_pauses()["a"]
        assert (kept.paused, kept.note, kept.since) == (True, "second", t0)  # since is kept
        store.set_pause("a", False, "", t0 + timedelta(hours=2))
        done = store.load_pauses()["a"]
        assert (done.paused, done.since) == (False, t0 + timedelta(hours=2))
        assert read_pause_file(path) == store.load_pauses()
        store.forget(["a"])
        assert store.load_pauses() == {}
    finally:
        store.close()
