"""Live reload of schedules.yaml in a running beat process, SIGHUP, and a broken edit."""

from __future__ import annotations

import signal
import time
from itertools import pairwise
from pathlib import Path

from tests.daemon.conftest import BeatProcess, StartBeat, drain_url
from tests.daemon.test_daemon_exactly_once import ms_to_dt

CONFIG_A = """\
entries:
  a:
    task: noop
    every: 1s
    start: 2026-01-01T00:00:00Z
"""
CONFIG_AB = (
    CONFIG_A
    + """\
  b:
    task: noop
    every: 1s
    start: 2026-01-01T00:00:00Z
"""
)


def running_beat(tmp_path: Path, redis_url: str, start_beat: StartBeat) -> tuple[Path, BeatProcess]:
    """A beat on CONFIG_A that has been sending for a moment; its config file and process."""
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(CONFIG_A)
    beat = start_beat(cfg, tmp_path / "schedule.db", redis_url)
    beat.wait_for_log("beat started")
    time.sleep(1.5)
    return cfg, beat


def test_edit_while_running_broken_edit_and_sighup(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    cfg, beat = running_beat(tmp_path, redis_url, start_beat)

    cfg.write_text(CONFIG_AB)
    beat.wait_for_log("config reloaded")
    time.sleep(1.5)

    cfg.write_text(CONFIG_AB + "  c:\n    task: noop\n    evry: 1s\n")
    beat.wait_for_log("config reload rejected")
    assert "unknown key 'evry'" in beat.log()
    time.sleep(1.5)
    assert beat.proc.poll() is None, "a broken edit must never stop a running beat"

    beat.proc.send_signal(signal.SIGHUP)
    beat.wait_for_log("(SIGHUP)")
    assert beat.stop() == 0

    seen = drain_url(redis_url)
    assert max(seen.values()) == 1
    a = sorted(ms_to_dt(k) for k in seen if k.startswith("a@"))
    b = sorted(ms_to_dt(k) for k in seen if k.startswith("b@"))
    assert len(b) >= 2, "the added entry fires"
    # the unchanged entry kept its state through both reloads: no gap, no repeat
    assert all((y - x).total_seconds() == 1 for x, y in pairwise(a))
    assert len(a) >= 5
    assert "c@" not in "".join(seen)


def test_a_restart_reads_an_unchanged_config_from_its_cache_and_an_edited_one_anew(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    # Issue 17: the daemon keeps a start-up cache beside its SQLite state; a file edited
    # while the beat was down is read again, never answered from the cache.
    cfg, state = tmp_path / "schedules.yaml", tmp_path / "schedule.db"
    cache = tmp_path / "schedule.db.config-cache"

    def run(config: str, entries: int) -> bytes:
        cfg.write_text(config)
        beat = start_beat(cfg, state, redis_url)
        beat.wait_for_log("beat started")
        assert f"beat started: {entries} entries" in beat.log()
        assert beat.stop() == 0
        return cache.read_bytes()

    first = run(CONFIG_A, 1)
    edited = run(CONFIG_AB, 2)
    assert edited != first and b'"b"' in edited  # read anew, and cached anew
    assert run(CONFIG_AB, 2) == edited  # unchanged: answered from the cache, not rewritten
