"""`beat next`, `beat check`, `beat list`: output formats, DST notes and errors (exit 2)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.runner import run

_NY = "--tz America/New_York"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT; 02:30 does not exist, so
        # the fixed-time job runs once at the instant of the change (03:00 EDT = 07:00Z).
        pytest.param(
            f"--cron '30 2 * * *' {_NY} --after 2026-03-07T12:00:00-05:00 -n 3",
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"],
            id="cron-spring-forward",
        ),
        # 2026-11-01 01:00-02:00 happens twice in New York; a fixed-time job runs on the first
        # pass.
        pytest.param(
            f"--cron '30 1 * * *' {_NY} --after 2026-10-31T12:00:00-04:00 -n 2",
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
            id="cron-fall-back-fixed-time-once",
        ),
        pytest.param(
            f"--cron '0 * * * *' {_NY} --after 2026-11-01T04:30:00Z -n 3",
            [
                "2026-11-01T01:00:00-04:00",  # 05:00Z
                "2026-11-01T01:00:00-05:00",  # 06:00Z: the repeated hour fires again (wildcard)
                "2026-11-01T02:00:00-05:00",  # 07:00Z
            ],
            id="hourly-across-fall-back",
        ),
        pytest.param(
            "--every 1h30m --start 2026-01-01T00:00:00Z --after 2026-01-01T02:00:00Z -n 2",
            ["2026-01-01T03:00:00+00:00", "2026-01-01T04:30:00+00:00"],
            id="every-with-start",
        ),
    ],
)
def test_next_json(capsys: pytest.CaptureFixture[str], argv: str, expected: list[str]) -> None:
    code, out, err = run(capsys, "next", *shlex.split(argv), "--json")
    assert code == 0, err
    assert json.loads(out) == expected


def test_next_human_output_has_local_utc_and_dst_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "next", "--cron", "30 2 * * *", "--tz", "America/New_York",
        "--after", "2026-03-07T12:00:00-05:00", "-n", "1",
    )  # fmt: skip
    assert code == 0
    assert "2026-03-08 03:00:00 EDT" in out
    assert "2026-03-08 07:00:00 UTC" in out
    assert "02:30 does not exist on 2026-03-08" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--cron", "60 * * * *"], "minute: 60 is out of range 0-59"),
        (["--cron", "* * 32 * *"], "day-of-month: 32 is out of range 1-31"),
        (["--cron", "*/0 * * * *"], "minute"),
        (["--cron", "* * * *"], "5 fields"),
        (["--cron", "* * * * * * *"], "5 fields"),
        (["--cron", "0 0 * foo *"], "month"),
        (["--cron", "0 0 * * 1", "--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
        (["--every", "5x"], "--every"),
        (["--cron", "0 0 * * *", "--after", "2026-01-01T00:00"], "--after: naive datetime"),
        ([], "exactly one of"),
    ],
)
def test_next_invalid_input_exit_2_with_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, "next", *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: "), err
    assert needle in err
    assert "Traceback" not in err


CONFIG = """\
timezone: America/New_York
entries:
  nightly:
    task: reports.nightly
    cron: "30 2 * * *"
    queue: reports
  ping:
    task: ping
    every: 30s
    start: 2026-01-01T00:00:00Z
"""


def test_next_entry_and_list_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(CONFIG)
    code, out, err = run(
        capsys, "next", "nightly", "--config", str(cfg),
        "--after", "2026-03-07T12:00:00-05:00", "-n", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]

    code, out, err = run(capsys, "check", "--config", str(cfg))
    assert code == 0, err
    assert "2 entries" in out

    code, out, err = run(capsys, "-s", str(tmp_path / "none.db"), "list", "--config", str(cfg))
    assert code == 0, err
    assert "nightly" in out and "reports" in out and "America/New_York" in out

    code, out, err = run(capsys, "next", "nigthly", "--config", str(cfg))
    assert code == 2
    assert "no entry named 'nigthly'" in err and "nightly" in err


def test_check_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n  a:\n    task: t\n    evry: 30s\n  b:\n    task: t\n    cron: '60 * * * *'\n"
    )
    code, _out, err = run(capsys, "check", "--config", str(cfg))
    assert code == 2
    lines = err.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    assert any("unknown key 'evry'" in line and "did you mean 'every'" in line for line in lines)
    assert any("minute: 60 is out of range 0-59" in line and ":7:" in line for line in lines)


def test_beat_next_subprocess_is_clean() -> None:
    """The console entry point works as a real process (no traceback on bad input)."""
    proc = subprocess.run(
        [sys.executable, "-m", "beat", "next", "--cron", "60 * * * *"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_next_reads_only_its_own_entry_of_the_run_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`beat next ENTRY` reads that entry's rows only (issue 17: one row of 100,000, one
    connection): another entry's unreadable row does not stop it, while `beat list`, which
    reads them all, still names that entry; its own paused row is still read."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from beat.state import StateStore
    from tests.cli.conftest import seed_state

    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n  a: {task: log, every: 1h, start: 2026-01-01T00:00:00Z}\n"
        "  b: {task: log, every: 1h}\n  c: {task: log, every: 1m}\n"
    )
    db = tmp_path / "s.db"
    seed_state(cfg, db, datetime.now(UTC) - timedelta(hours=1))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE beat_entry_state SET first_seen_us = 'garbage' WHERE name = 'b'")
    conn.close()
    code, out, err = run(
        capsys, "-s", str(db), "next", "a", "-n", "2", "--json", "--config", str(cfg)
    )
    assert code == 0, err
    fires = [datetime.fromisoformat(t) for t in json.loads(out)]
    assert fires[1] - fires[0] == timedelta(hours=1) and fires[0].minute == 0
    code, _, err = run(capsys, "-s", str(db), "list", "--config", str(cfg))
    assert code == 1 and "entry 'b': first_seen_us" in err, err
    store = StateStore(str(db))
    try:
        store.set_pause("c", True, "maintenance", datetime.now(UTC))
    finally:
        store.close()
    code, out, err = run(capsys, "-s", str(db), "next", "c", "--config", str(cfg))
    assert code == 0 and "c is paused since" in out and "maintenance" in out, (out, err)
