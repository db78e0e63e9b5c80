"""``beat next`` and ``beat list`` show the fires the beat will send (issue 16): none for a
paused entry until ``beat resume`` (then only those after the resume instant), none for a
disabled one; and ``beat trigger`` records its run in the entry's history as a manual run,
outside the scheduled fires' accounting. Real SQLite run state and queue throughout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.state import StateStore
from tests.cli.conftest import seed_state
from tests.cli.runner import run

SEEN = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A configuration (SQLite queue) and a run state as a beat that saw it an hour ago leaves."""
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"timezone: UTC\nbroker: sqlite:///{tmp_path / 'queue.db'}\nentries:\n"
        "  tick: {task: log, every: 2m}\n"
        "  dormant: {task: log, every: 1m, enabled: false}\n"
    )
    seed_state(config, tmp_path / "schedule.db", SEEN)
    return config, tmp_path / "schedule.db"


def _beat(capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path], *argv: str) -> str:
    config, state = setup
    code, out, err = run(capsys, "-s", str(state), *argv, "--config", str(config))
    assert code == 0, err
    return out


def _next(capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path], name: str) -> list[str]:
    fires: list[str] = json.loads(_beat(capsys, setup, "next", name, "-n", "3", "--json"))
    return fires


def _row(capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path], name: str) -> dict:  # type: ignore[type-arg]
    (row,) = [r for r in json.loads(_beat(capsys, setup, "list", "--json")) if r["name"] == name]
    return row  # type: ignore[no-any-return]


def test_a_paused_entry_has_no_next_fires_until_resumed(
    capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path]
) -> None:
    assert len(_next(capsys, setup, "tick")) == 3
    _beat(capsys, setup, "pause", "tick", "--note", "disk full")
    assert _next(capsys, setup, "tick") == []
    text = _beat(capsys, setup, "next", "tick")
    assert "paused since" in text and "disk full" in text and "no fires" in text, text
    row = _row(capsys, setup, "tick")
    assert row["next_fire"] is None and row["paused"]["note"] == "disk full"
    _beat(capsys, setup, "resume", "tick")
    resumed_at = datetime.now(UTC)
    fires = _next(capsys, setup, "tick")
    assert len(fires) == 3 and _row(capsys, setup, "tick")["next_fire"] == fires[0]
    # From its next scheduled instant after the resume: the paused hour is not replayed.
    first = datetime.fromisoformat(fires[0])
    assert resumed_at - timedelta(seconds=5) < first <= resumed_at + timedelta(minutes=2)
    assert (first - SEEN) % timedelta(minutes=2) == timedelta(0)


def test_a_disabled_entry_has_no_next_fires(
    capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path]
) -> None:
    assert _next(capsys, setup, "dormant") == []
    assert "disabled" in _beat(capsys, setup, "next", "dormant")
    assert _row(capsys, setup, "dormant")["next_fire"] is None


def test_trigger_is_in_the_history_as_a_manual_run_only(
    capsys: pytest.CaptureFixture[str], setup: tuple[Path, Path]
) -> None:
    task_id = _beat(capsys, setup, "trigger", "tick").strip()
    history = json.loads(_beat(capsys, setup, "history", "tick", "--json"))
    assert [(h["fire_id"], h["outcome"], h["state"]) for h in history] == [
        (task_id, "manual", "QUEUED")
    ]
    assert history[0]["by"]
    # Not a scheduled fire: the entry's last fire and the fires the overlap and failure
    # watches count as sent are unchanged.
    store = StateStore(str(setup[1]))
    try:
        assert store.load()["tick"].last_fire is None
        assert store.overlap_memory(["tick"]) == ({}, {})
    finally:
        store.close()
    assert len(_next(capsys, setup, "tick")) == 3
