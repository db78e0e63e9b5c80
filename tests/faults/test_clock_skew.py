"""Clock skew between hosts (issue 11, item 7): leases, etas and recovery use one clock, the
Redis server's, so a worker whose wall clock is wrong neither runs a task twice nor early.

Each skewed worker is a real process whose wall clock is shifted by ``skewed_clock/
sitecustomize.py`` (``time.time`` and ``datetime.now``), as on a host without NTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from taskqueue.keys import KeySpace
from taskqueue.message import Message
from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.faults.procs import StartProc, wait_until

spawn = procs.spawn

SKEW_DIR = Path(__file__).resolve().parent / "skewed_clock"
ARGS = ("-A", "fault_tasks", "-c", "1", "--lease", "2s", "--shutdown-timeout", "5s")
HOUR_S = 3600.0


def skewed_env(offset_s: float = 0.0, offset_file: Path | None = None) -> dict[str, str]:
    if offset_file is not None:
        env = procs.proc_env(BEAT_TEST_CLOCK_OFFSET_FILE=str(offset_file))
    else:
        env = procs.proc_env(BEAT_TEST_CLOCK_OFFSET_S=str(offset_s))
    env["PYTHONPATH"] = os.pathsep.join([str(SKEW_DIR), env["PYTHONPATH"]])
    return env


def starts(marks: Path) -> list[str]:
    if not marks.exists():
        return []
    return [line for line in marks.read_text().splitlines() if line.startswith("start")]


def test_the_sitecustomize_really_shifts_the_clock() -> None:
    code = "import time, datetime; print(time.time(), datetime.datetime.now().timestamp())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=skewed_env(-HOUR_S), capture_output=True, text=True
    )
    shifted = [float(v) for v in out.stdout.split()]
    assert all(abs(v - (time.time() - HOUR_S)) < 60 for v in shifted), out


@pytest.mark.slow
def test_a_worker_an_hour_behind_keeps_its_lease_and_the_task_runs_once(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    marks = tmp_path / "marks"
    behind = spawn("worker", "--broker", redis_url, *ARGS, env=skewed_env(-HOUR_S))
    behind.wait_for_log(" ready: ")
    broker = RedisBroker(redis_url)
    task_id = f"skew-{uuid.uuid4().hex[:8]}"
    try:
        assert broker.enqueue_once(Message(id=task_id, task="f.mark", args=(str(marks), "b", 6.0)))
        wait_until(lambda: len(starts(marks)) == 1, 10, "the task to start on the late worker")
        correct = spawn("worker", "--broker", redis_url, *ARGS)
        correct.wait_for_log(" ready: ")
        wait_until(
            lambda: (s := broker.get_status(task_id)) is not None and s.state is TaskState.SUCCESS,
            20,
            "the task to finish",
        )
        assert len(starts(marks)) == 1, marks.read_text()  # never recovered from a live lease
        assert "recovered" not in correct.log()
    finally:
        broker.close()


@pytest.mark.slow
def test_a_worker_an_hour_ahead_does_not_run_a_30m_countdown_early(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    marks = tmp_path / "marks"
    ahead = spawn("worker", "--broker", redis_url, *ARGS, env=skewed_env(HOUR_S))
    ahead.wait_for_log(" ready: ")
    broker = RedisBroker(redis_url)
    task_id = f"later-{uuid.uuid4().hex[:8]}"
    eta = datetime.now(UTC) + timedelta(minutes=30)
    try:
        message = Message(id=task_id, task="f.mark", args=(str(marks), "c"), eta=eta)
        assert broker.enqueue_once(message)
        time.sleep(3)  # several claim rounds of the worker
        assert starts(marks) == []
        status = broker.get_status(task_id)
        assert status is not None and status.state is TaskState.QUEUED
        [stats] = [s for s in broker.queue_stats() if s.name == "default"]
        assert (stats.ready, stats.delayed, stats.in_flight) == (0, 1, 0)
        assert ahead.proc.poll() is None
    finally:
        broker.close()


def test_a_sender_an_hour_ahead_delays_by_its_countdown_not_its_clock(redis_url: str) -> None:
    """``beat send --countdown 30m`` on a host an hour ahead: due in 30 minutes of the
    server's time (the client sends the duration), not in an hour and a half."""
    code = (
        "import sys; from datetime import UTC, datetime, timedelta;"
        "from taskqueue.message import Message; from taskqueue.redis import RedisBroker;"
        "b = RedisBroker(sys.argv[1]);"
        "eta = datetime.now(UTC) + timedelta(minutes=30);"
        "assert b.enqueue_once(Message(id='sent-ahead', task='f.mark', eta=eta))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, redis_url],
        env=skewed_env(HOUR_S),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    client: Any = redis.Redis.from_url(redis_url)
    due_ms = client.zscore(KeySpace().queue("default").delayed, "sent-ahead")
    seconds, micros = client.time()
    server_ms = seconds * 1000 + micros // 1000
    assert abs(due_ms - (server_ms + 30 * 60_000)) < 60_000, (due_ms - server_ms) / 60_000


def test_beat_logs_its_clock_stepping_back_and_by_how_much(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    offset = tmp_path / "offset"
    offset.write_text("0")
    config = tmp_path / "schedules.yaml"
    config.write_text("entries:\n  e:\n    task: f.mark\n    every: 1h\n")
    beat = spawn(
        "beat",
        "-s",
        str(tmp_path / "beat.db"),
        "--config",
        str(config),
        "--broker",
        redis_url,
        env=skewed_env(offset_file=offset),
    )
    beat.wait_for_log("beat started")
    time.sleep(1.5)
    offset.write_text("-120")  # the host's clock is stepped back two minutes
    beat.wait_for_log("clock stepped back by 2m ", timeout=10)
    assert len([line for line in beat.log().splitlines() if "stepped back" in line]) == 1
