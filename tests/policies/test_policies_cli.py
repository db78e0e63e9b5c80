"""``beat next``, ``beat list``, ``beat check`` and ``beat config`` with jitter, start/end and
solar entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.time.jitter import jitter_delay
from taskqueue.message import fire_id
from tests.cli.runner import run

CONFIG = """\
entries:
  tromso-sunrise:
    task: t
    solar: {event: sunrise, lat: 69.65, lon: 18.96}
  hourly:
    task: t
    cron: '0 * * * *'
    jitter: 10m
    start: 2026-01-01T00:00:00Z
    end: 2099-01-01T00:00:00Z
  over:
    task: t
    every: 1h
    start: 2020-01-01T00:00:00Z
    end: 2020-01-02T00:00:00Z
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(CONFIG)
    return path


def test_next_says_when_polar_night_has_no_sunrise(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ask = ("next", "tromso-sunrise", "--config", str(cfg), "--after", "2026-11-20T00:00:00Z")
    code, out, err = run(capsys, *ask, "-n", "8")
    assert code == 0, err
    notes = [line for line in out.splitlines() if "note: no sunrise" in line]
    assert len(notes) == 1, out
    assert "polar day or night" in notes[0]
    assert "2027-01" in notes[0].split("note:")[0]  # the first sunrise after the polar night
    code, out, err = run(capsys, *ask, "--json")
    assert code == 0, err
    assert all(datetime.fromisoformat(t).tzinfo is not None for t in json.loads(out))


def test_next_shows_the_jittered_send_time(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "next", "hourly", "--config", str(cfg), "--after", "2026-05-01T00:30:00Z", "-n", "2"
    )  # fmt: skip
    assert code == 0, err
    nominal = datetime(2026, 5, 1, 1, tzinfo=UTC)
    delay = jitter_delay(fire_id("hourly", nominal), timedelta(minutes=10))
    sent = nominal + delay
    first = out.splitlines()[1]
    assert "2026-05-01 01:00:00 UTC" in first
    assert f"sent {sent:%Y-%m-%d %H:%M:%S}" in first and "jitter +" in first


def test_list_check_and_config_know_the_new_keys(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", "--config", str(cfg))
    assert code == 0, err
    code, out, err = run(
        capsys, "-s", str(tmp_path / "s.db"), "list", "--config", str(cfg), "--json"
    )
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["over"]["finished"] is True
    assert (
        rows["hourly"]["finished"] is False
        and rows["hourly"]["next_send"] != rows["hourly"]["next_fire"]
    )
    code, out, err = run(capsys, "config", "--config", str(cfg), "--json")
    assert code == 0, err
    entries = json.loads(out)["entries"]
    assert entries["tromso-sunrise"]["solar"] == {"event": "sunrise", "lat": 69.65, "lon": 18.96}
    assert entries["hourly"]["jitter"] == "10m"
    assert entries["hourly"]["end"] == "2099-01-01T00:00:00+00:00"
    assert entries["over"]["start"] == "2020-01-01T00:00:00+00:00"
