"""``pause_on_failure: true`` with real processes: the entry pauses itself when a fire's task
fails, with the task id in the note, and sends nothing more until resumed."""

from __future__ import annotations

import time
from pathlib import Path

from tests.daemon.conftest import StartBeat
from tests.policies.conftest import beat_json
from tests.worker.conftest import StartWorker


def test_a_failed_fire_pauses_its_entry(
    tmp_path: Path, redis_url: str, start_beat: StartBeat, start_worker: StartWorker
) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        f"broker: '{redis_url}'\n"
        "entries:\n"
        "  bad: {task: p.fail, every: 1s, start: 2026-01-01T00:00:00Z, pause_on_failure: true}\n"
        "  other: {task: p.fail, every: 1s, start: 2026-01-01T00:00:00Z}\n"
    )
    state = tmp_path / "schedule.db"
    start_worker(redis_url)
    beat = start_beat(cfg, state, redis_url)
    beat.wait_for_log("entry bad paused: pause_on_failure: bad@")
    paused = {r["name"]: r["paused"] for r in beat_json(cfg, state, "list")}
    assert paused["other"] is None
    note = paused["bad"]["note"]
    assert note.startswith("pause_on_failure: bad@") and note.endswith("ended in FAILURE")
    failed_id = note.split()[1]
    history = beat_json(cfg, state, "history", "bad")
    assert any(r["fire_id"] == failed_id and r["state"] == "FAILURE" for r in history)
    sent_before = beat.log().count("fire bad for")
    other_before = beat.log().count("fire other for")
    time.sleep(3)
    assert beat.log().count("fire bad for") == sent_before, "a paused entry sends nothing"
    assert beat.log().count("fire other for") > other_before, "the other entry goes on"
    assert beat.stop() == 0
