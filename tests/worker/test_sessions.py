"""worker.sessions: finding and killing every process of a session through /proc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker import sessions

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")


def _members(sid: int) -> set[int]:
    return {p.pid for p in sessions.scan() if p.sid == sid and not p.zombie}


def test_kill_sessions_ends_every_member_even_after_its_leader_exited(tmp_path: Path) -> None:
    # The leader starts two background sleeps and exits: they are re-parented, same session.
    # A name with spaces and parentheses must not confuse the /proc/PID/stat parser.
    odd = tmp_path / "x) (y"
    odd.symlink_to(shutil.which("sleep") or "/bin/sleep")
    leader = subprocess.Popen(
        ["/bin/sh", "-c", f"'{odd}' 30 & sleep 30 & exit 0"], start_new_session=True
    )
    leader.wait()
    deadline = time.monotonic() + 5
    while len(_members(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(_members(leader.pid)) == 2
    assert sessions.kill_sessions({leader.pid}) == 2
    assert _members(leader.pid) == set()


def test_own_session_is_never_killed() -> None:
    assert sessions.kill_sessions({os.getsid(0), 0, 1}) == 0


def test_descendants_follow_the_parent_tree() -> None:
    procs = [
        sessions.ProcInfo(10, 1, 10, False),
        sessions.ProcInfo(11, 10, 11, False),
        sessions.ProcInfo(12, 11, 11, False),
        sessions.ProcInfo(13, 1, 13, False),
    ]
    assert [p.pid for p in sessions.descendants(procs, 10)] == [11, 12]
