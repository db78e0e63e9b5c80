"""State and queue files are readable by their owner only (0600), with the SQLite -wal and
-shm files alongside, whatever the umask: they hold task arguments and results."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.procs import proc_env, wait_until

CONFIG = "entries:\n  tick:\n    task: f.mark\n    every: 1s\n    args: [/dev/null, tick]\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_with_umask(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    # umask 022 (the usual default) would give 0644 files if the product did not choose.
    return subprocess.Popen(
        ["sh", "-c", 'umask 022; exec "$@"', "sh", sys.executable, *args],
        cwd=cwd,
        env=proc_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_schedule_db_and_queue_db_are_created_owner_only(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(CONFIG)
    queue = tmp_path / "queue.db"
    state = tmp_path / "schedule.db"
    beat = run_with_umask(
        ["-m", "beat", "-s", str(state), "--config", "schedules.yaml",
         "--broker", f"sqlite:///{queue}"],
        tmp_path,
    )  # fmt: skip
    try:
        files = [state, Path(f"{state}-wal"), Path(f"{state}-shm")]
        files += [queue, Path(f"{queue}-wal"), Path(f"{queue}-shm")]
        wait_until(lambda: all(f.exists() for f in files), 20, "the beat to create its files")
        time.sleep(1.5)  # a dispatch or two: the files are written, not only created
        assert {f.name: oct(mode(f)) for f in files} == {f.name: oct(0o600) for f in files}
    finally:
        beat.terminate()
        assert beat.wait(15) == 0


def test_a_queue_db_created_by_the_cli_is_owner_only(tmp_path: Path) -> None:
    queue = tmp_path / "queue.db"
    send = run_with_umask(
        ["-m", "beat", "send", "f.mark", "--broker", f"sqlite:///{queue}"], tmp_path
    )
    assert send.wait(30) == 0
    assert oct(mode(queue)) == oct(0o600)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{queue}{suffix}")
        assert not extra.exists() or oct(mode(extra)) == oct(0o600)
