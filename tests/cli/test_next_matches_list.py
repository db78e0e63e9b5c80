"""`beat next ENTRY` reads the same run state as `beat list` (issue 12 item 2).

The next fire `beat list` shows and the first fire of `beat next ENTRY -n 1` are one answer,
for every entry kind, with and without a state file; `beat list --json` says `null` where there
is no next fire and reports overdue as its own field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import seed_state
from tests.cli.runner import run

CONFIG = """\
timezone: Europe/Berlin
entries:
  nos:
    task: log
    every: 10m
  fixed:
    task: log
    every: 1h
    start: 2026-01-01T00:00:30Z
  nightly:
    task: log
    cron: "30 2 * * *"
  weekly:
    task: log
    calendar: {every: 1w, at: "09:15:07", start: 2026-01-05}
  once_past:
    task: log
    at: 2020-01-01T00:00:00Z
  once_future:
    task: log
    at: 2099-06-01T12:00:00Z
  paused_one:
    task: log
    every: 1m
    enabled: false
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(CONFIG)
    return path


def _list(capsys: pytest.CaptureFixture[str], config: Path, state: Path) -> dict[str, dict]:
    code, out, err = run(capsys, "-s", str(state), "list", "--config", str(config), "--json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)}


def _next_one(
    capsys: pytest.CaptureFixture[str], config: Path, state: Path, name: str
) -> str | None:
    code, out, err = run(
        capsys, "-s", str(state), "next", name, "--config", str(config), "-n", "1", "--json"
    )
    assert code == 0, err
    fires = json.loads(out)
    return fires[0] if fires else None


@pytest.mark.parametrize("name", ["nos", "fixed", "nightly", "weekly", "once_past", "once_future"])
def test_list_next_fire_equals_next_n1_with_state(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path, name: str
) -> None:
    state = tmp_path / "state.db"
    # First seen at an odd instant: an interval's phase comes from it, not from "now".
    first_seen = datetime.now(UTC) - timedelta(hours=5, microseconds=123_457)
    seed_state(config_path, state, first_seen)
    listed = _list(capsys, config_path, state)[name]
    assert listed["next_fire"] == _next_one(capsys, config_path, state, name)


def _seeded_at_odd_instant(config_path: Path, tmp_path: Path) -> tuple[Path, datetime]:
    """A state file whose entries were first seen at an instant off every whole unit."""
    state = tmp_path / "state.db"
    first_seen = datetime(2026, 12, 1, 15, 41, 46, 127_313, tzinfo=UTC)
    seed_state(config_path, state, first_seen)
    return state, first_seen


def test_interval_phase_comes_from_the_state_not_from_now(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    state, first_seen = _seeded_at_odd_instant(config_path, tmp_path)
    fire = _next_one(capsys, config_path, state, "nos")
    assert fire is not None
    offset = datetime.fromisoformat(fire) - first_seen
    assert offset > timedelta(0)
    assert offset % timedelta(minutes=10) == timedelta(0)


def test_next_after_in_the_past_never_lists_the_anchor_itself(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    # The daemon's first fire of an interval without start is one interval after first seen.
    state, first_seen = _seeded_at_odd_instant(config_path, tmp_path)
    code, out, err = run(
        capsys, "-s", str(state), "next", "nos", "--config", str(config_path),
        "--after", "2026-11-01T00:00:00Z", "-n", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    fires = [datetime.fromisoformat(f) for f in json.loads(out)]
    assert fires == [first_seen + timedelta(minutes=10), first_seen + timedelta(minutes=20)]


def test_without_state_the_new_entry_never_fires_now(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    before = datetime.now(UTC)
    code, out, err = run(
        capsys, "-s", str(tmp_path / "none.db"), "next", "nos", "--config", str(config_path),
        "--after", "2020-01-01T00:00:00Z", "-n", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    (fire,) = json.loads(out)
    # Like the daemon that would first see it now: one interval from now, never "now" itself.
    assert datetime.fromisoformat(fire) >= before + timedelta(minutes=10)
    assert "no run state" in err
    assert not (tmp_path / "none.db").exists()


def test_list_json_null_and_overdue_fields(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    seed_state(config_path, state, datetime.now(UTC) - timedelta(hours=5))
    rows = _list(capsys, config_path, state)
    for row in rows.values():
        assert "overdue" in row
        assert row["next_fire"] is None or "(" not in row["next_fire"]
        if row["next_fire"] is not None:
            datetime.fromisoformat(row["next_fire"])
    # Never fired for five hours, so the daemon owes these a fire now.
    assert rows["nos"]["overdue"] is True
    assert rows["once_past"]["next_fire"] is None  # before first seen: it never fires
    assert rows["once_past"]["overdue"] is False
    assert rows["once_future"]["overdue"] is False
    assert rows["paused_one"]["next_fire"] is None
    assert rows["paused_one"]["overdue"] is False
