"""The beat's state store failing: a corrupt or locked schedule.db, PostgreSQL connections killed.

A bad state file must stop the beat at start-up with exit code 1 and one `error:` line that
says what to do; a state database that drops its connections at run time must be retried, with
no fire lost or repeated and no traceback flood.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from beat.state import EntryState, StateStore
from tests.daemon.conftest import drain_url
from tests.faults import procs
from tests.faults.procs import StartProc, free_port, proc_env

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
spawn = procs.spawn

CONFIG = "entries:\n  a:\n    task: f.mark\n    every: 1s\n"


def run_beat(tmp_path: Path, state: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schedules.yaml"
    config.write_text(CONFIG)
    broker = f"sqlite:///{tmp_path / 'queue.db'}"
    return subprocess.run(
        [sys.executable, "-m", "beat", "-s", state, "--config", str(config), "--broker", broker],
        capture_output=True,
        text=True,
        env=proc_env(),
        cwd=tmp_path,
        timeout=timeout,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_garbage_schedule_db_stops_beat_with_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "schedule.db"
    state.write_bytes(os.urandom(8192))
    result = run_beat(tmp_path, str(state))
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result)
    assert str(state) in line or "schedule.db" in line
    assert "not a valid beat state database" in line and "move it aside" in line
    assert state.read_bytes() != b""  # left for the operator to inspect, not overwritten


def test_a_state_db_with_a_corrupt_page_stops_beat_with_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "schedule.db"
    store = StateStore(str(state))
    now = datetime.now(UTC)
    store.upsert_new(
        [EntryState(f"entry-{i:05d}-{'x' * 40}", now, now, "h" * 40) for i in range(3000)]
    )
    store.close()
    with sqlite3.connect(state) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with state.open("r+b") as f:  # the header is intact: it opens, and fails when read
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))
    result = run_beat(tmp_path, str(state))
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result)
    assert "schedule.db" in line and "move it aside" in line


@pytest.mark.slow
def test_a_locked_schedule_db_stops_beat_with_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "schedule.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('CREATE TABLE held (x)')\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n",
         str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = run_beat(tmp_path, str(state))
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(10)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result)
    assert "schedule.db" in line and "database is locked" in line
    assert "another process holds a lock" in line and "-s" in line
    assert waited < 30  # the busy timeout, not a hang


# --- PostgreSQL state store: connections killed while the beat runs ---------------------------


def _with_app_name(url: str, name: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}application_name={name}"


@pytest.mark.slow
def test_postgres_connections_killed_under_a_running_beat(
    tmp_path: Path, postgres_url: str, redis_url: str, spawn: StartProc
) -> None:
    app = f"beat-fault-{uuid.uuid4().hex[:8]}"
    state_url = _with_app_name(postgres_url, app)
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n"
        "  pg1:\n"
        "    task: f.mark\n"
        "    every: 1s\n"
        "    start: 2026-01-01T00:00:00Z\n"
        "    catch_up: all\n"
    )
    beat = spawn("beat", "-s", state_url, "--config", str(config), "--broker", redis_url)
    beat.wait_for_log("beat started", timeout=30)
    time.sleep(2)

    # Only this beat's sessions (other tests share the server): by application_name.
    admin = sa.create_engine(postgres_url.split("?", 1)[0])
    rounds = 0
    try:
        for _ in range(2):  # two separate kills, each noticed at the next dispatch
            with admin.begin() as conn:
                killed = conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :app"
                    ),
                    {"app": app},
                ).all()
            rounds += bool(killed)
            time.sleep(1.5)
    finally:
        admin.dispose()
    assert rounds >= 1, "the beat kept no session to kill"
    time.sleep(2)
    assert beat.stop() == 0, beat.log()

    store = StateStore(postgres_url)
    last = store.load()["pg1"].last_fire
    store.close()
    assert last is not None and last > datetime.now(UTC) - timedelta(seconds=5), beat.log()
    ids = drain_url(redis_url)
    assert max(ids.values()) == 1
    stamps = sorted(int(i.rsplit("@", 1)[1]) for i in ids)
    # Contiguous: every second from the first fire to the last recorded one, none lost.
    assert stamps == list(range(stamps[0], int(last.timestamp() * 1000) + 1, 1000)), beat.log()
    log = beat.log()
    assert "Traceback" not in log, log[-4000:]
    # One line per state change: an ERROR when a dispatch fails, a WARNING when it recovers.
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert 1 <= len(errors) <= rounds, "\n".join(errors)
    assert log.count("dispatch recovered") == len(errors)


def test_an_unreachable_sql_source_gives_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"broker: sqlite:///{tmp_path / 'queue.db'}\n"
        f"source: postgresql://postgres@127.0.0.1:{free_port()}/test\n"
        "entries: {}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "beat", "-s", str(tmp_path / "s.db"), "--config", str(config)],
        capture_output=True, text=True, env=proc_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    tail = result.stderr.split("error: ", 1)[1]
    assert "\n" not in tail.rstrip("\n"), result.stderr
    assert "sqlalche.me" not in result.stderr


def _kill_sessions(admin: sa.Engine, app: str) -> int:
    with admin.begin() as conn:
        return len(
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :app"
                ),
                {"app": app},
            ).all()
        )


@pytest.mark.slow
def test_sql_source_sessions_killed_under_a_running_beat(
    tmp_path: Path, postgres_url: str, redis_url: str, spawn: StartProc
) -> None:
    """Entries come from PostgreSQL (SPEC 6 SQL source); its sessions are killed repeatedly:
    the beat keeps the entries it has, logs the outage once, and reads changes afterwards."""
    app = f"beat-src-{uuid.uuid4().hex[:8]}"
    source = _with_app_name(postgres_url, app)
    config = tmp_path / "schedules.yaml"
    config.write_text(f"source: {source}\nentries: {{}}\n")
    for name in ("s1", "s2"):
        added = subprocess.run(
            [sys.executable, "-m", "beat", "entries", "--config", str(config), "add", name,
             "--task", "f.mark", "--every", "1s", "--start", "2026-01-01T00:00:00Z",
             "--catch-up", "all"] if name == "s1" else
            [sys.executable, "-m", "beat", "entries", "--config", str(config), "add", name,
             "--task", "f.mark", "--every", "1s", "--start", "2026-01-01T00:00:00Z",
             "--disabled"],
            capture_output=True, text=True, env=proc_env(), timeout=30,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    beat = spawn("beat", "-s", str(tmp_path / "schedule.db"), "--config", str(config),
                 "--broker", redis_url)  # fmt: skip
    beat.wait_for_log("beat started", timeout=30)
    time.sleep(1.5)
    admin = sa.create_engine(postgres_url.split("?", 1)[0])
    try:
        killed = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            killed += _kill_sessions(admin, app)
            time.sleep(0.2)
    finally:
        admin.dispose()
    assert killed >= 1, "the beat kept no session to kill"
    # Read again after the outage: enabling s2 in the database reaches the running beat.
    enabled = subprocess.run(
        [sys.executable, "-m", "beat", "entries", "--config", str(config), "enable", "s2"],
        capture_output=True, text=True, env=proc_env(), timeout=30,
    )  # fmt: skip
    assert enabled.returncode == 0, enabled.stderr
    beat.wait_for_log("fire s2 ", timeout=15)
    time.sleep(1)
    assert beat.stop() == 0, beat.log()

    store = StateStore(str(tmp_path / "schedule.db"))
    last = store.load()["s1"].last_fire
    store.close()
    assert last is not None
    ids = drain_url(redis_url)
    assert max(ids.values()) == 1
    stamps = sorted(int(i.rsplit("@", 1)[1]) for i in ids if i.startswith("s1@"))
    # s1 kept firing through the source outage: every second, none lost.
    assert stamps == list(range(stamps[0], int(last.timestamp() * 1000) + 1, 1000)), beat.log()
    assert any(i.startswith("s2@") for i in ids)
    log = beat.log()
    assert "Traceback" not in log, log[-4000:]
    errors = [line for line in log.splitlines() if " ERROR " in line]
    # One line per outage (and one when readable again), not one per poll.
    assert 1 <= len(errors) <= 3, "\n".join(errors)
    assert log.count("SQL source unreadable") == log.count("SQL source readable again")
