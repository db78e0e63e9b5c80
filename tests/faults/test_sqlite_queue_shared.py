"""Many processes sharing the embedded SQLite queue (the default broker) lose nothing.

Issue 11, item 1: every queue handle built in a process opened and closed ``queue.db`` with
``os.open``/``os.close``, which drops every POSIX lock the process holds on the file; the
worker and beat build several handles, so their SQLite connections lost their locks, the next
CLI call deleted ``queue.db-wal``/``-shm`` under them (``(deleted)`` in /proc/PID/fd), sent
tasks stayed QUEUED and then ``unknown``, and the file ended ``malformed``. Real daemons and
CLI calls, the README's quick start as written, and a crowd of them at once.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from taskqueue.records import TaskState
from taskqueue.sqlite import SQLiteBroker
from tests.faults import procs
from tests.faults.procs import REPO, Proc, StartProc, run_cli, wait_until

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
spawn = procs.spawn


def deleted_queue_fds(daemons: list[Proc], queue: Path) -> list[str]:
    """Descriptors of ``queue`` or its -wal/-shm, in the daemons and their children, whose
    file was deleted from the directory while they still use it."""
    found = []
    for daemon in daemons:
        for pid in daemon.tree():
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue  # exited meanwhile (a recycled pool process)
            for fd in fds:
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith(str(queue)) and target.endswith("(deleted)"):
                    found.append(f"{pid}: {target}")
    return found


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def wait_all_succeeded(queue: Path, ids: list[str], timeout: float) -> None:
    broker = SQLiteBroker(f"sqlite:///{queue}")
    try:

        def states() -> Counter[str]:
            found = (broker.get_status(i) for i in ids)
            return Counter("unknown" if s is None else s.state.value for s in found)

        try:
            wait_until(lambda: states()[TaskState.SUCCESS.value] == len(ids), timeout, "tasks")
        except AssertionError as e:
            raise AssertionError(f"{e}: states {dict(states())}") from None
        assert all(s is not None and s.attempts == 1 for s in map(broker.get_status, ids))
    finally:
        broker.close()


def send(cwd: Path, *args: str) -> str:
    result = run_cli(*args, cwd=cwd, timeout=60)
    assert result.returncode == 0, f"beat {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


@pytest.mark.slow
def test_readme_quick_start_runs_every_send_once(tmp_path: Path, spawn: StartProc) -> None:
    """The README's quick start as written, on the example schedules.yaml, with a dozen
    ``beat send log`` calls a few seconds apart while it runs."""
    shutil.copy(REPO / "schedules.yaml", tmp_path / "schedules.yaml")
    queue = tmp_path / "queue.db"
    worker = spawn("worker", "-B", "-s", "schedule.db")
    worker.wait_for_log("beat started", timeout=60)  # every handle of both daemons is built
    ids = []
    for n in range(1, 13):
        ids.append(send(tmp_path, "send", "log", "--kwargs", json.dumps({"message": f"m{n}"})))
        time.sleep(1.5)
        assert deleted_queue_fds([worker], queue) == []
    wait_all_succeeded(queue, ids, timeout=60)
    logged = Counter(re.findall(r"worker\.builtin: (m\d+)(?=\s|$)", worker.log(), re.M))
    assert logged == Counter({f"m{n}": 1 for n in range(1, 13)})
    assert "malformed" not in worker.log()
    assert worker.stop() == 0
    assert integrity(queue) == "ok"


CONFIG = """\
entries:
  tick:
    task: f.mark
    every: 1s
    args: [{ticks}, tick]
  manual:
    task: f.mark
    cron: "0 0 1 1 *"
    args: [{marks}, trig]
"""


@pytest.mark.slow
@pytest.mark.timeout(300)  # 50 CLI start-ups (~0.7 s of CPU each) on a shared CI machine
def test_worker_beat_and_50_cli_calls_share_one_queue(tmp_path: Path, spawn: StartProc) -> None:
    marks, ticks = tmp_path / "marks", tmp_path / "ticks"
    (tmp_path / "schedules.yaml").write_text(CONFIG.format(marks=marks, ticks=ticks))
    queue = tmp_path / "queue.db"  # the default broker, next to the configuration
    worker = spawn("worker", "-B", "-s", "schedule.db", "-A", "fault_tasks", "-c", "2")
    beat = spawn("beat", "-s", "standalone.db")  # a second beat: leader or standby
    daemons = [worker, beat]
    worker.wait_for_log("beat started", timeout=60)
    beat.wait_for_log("beat started", timeout=60)
    seed = send(tmp_path, "send", "f.mark", "--args", json.dumps([str(marks), "s-seed"]))

    calls: list[tuple[str, ...]] = [
        ("send", "f.mark", "--args", json.dumps([str(marks), f"s{i}"])) for i in range(20)
    ]
    calls += [("trigger", "manual")] * 10 + [("queues",)] * 10 + [("status", seed)] * 10
    random.Random(11).shuffle(calls)
    with ThreadPoolExecutor(max_workers=6) as pool:
        outputs = list(pool.map(lambda args: send(tmp_path, *args), calls))
    sent = [seed] + [out for args, out in zip(calls, outputs, strict=True) if args[0] != "queues"]
    sent = [out for out in sent if re.fullmatch(r"[0-9a-f]{32}", out)]  # not status output
    assert len(sent) == 1 + 20 + 10 and len(set(sent)) == len(sent)

    wait_all_succeeded(queue, sent, timeout=60)
    time.sleep(1)  # a second run, if any, would have started by now
    lines = marks.read_text().splitlines()
    ran = Counter(line.split()[1] for line in lines if line.startswith("end "))
    started = Counter(line.split()[1] for line in lines if line.startswith("start "))
    expected = Counter({"s-seed": 1, "trig": 10, **{f"s{i}": 1 for i in range(20)}})
    assert ran == expected and started == expected
    assert deleted_queue_fds(daemons, queue) == []
    assert Path(f"{queue}-wal").exists() and Path(f"{queue}-shm").exists()
    for daemon in daemons:
        assert "malformed" not in daemon.log()
        assert daemon.stop() == 0, daemon.log()[-3000:]
    assert integrity(queue) == "ok"
    assert ticks.exists()  # the beats kept firing throughout
