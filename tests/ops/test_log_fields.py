"""Every log line about a fire or a task carries its ids as fields, in both formats.

A real beat and a real worker (prefork pool) share a SQLite queue; their stderr is parsed:
JSON lines as objects, text lines as ``key=value`` pairs after the message.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from taskqueue.message import Message
from taskqueue.urls import open_broker
from tests.worker.conftest import wait_status, worker_argv, worker_env

_PAIR = re.compile(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse(line: str, fmt: str) -> dict[str, Any]:
    """The fields of one log line (JSON values; text values as JSON when they parse)."""
    if fmt == "json":
        record: dict[str, Any] = json.loads(line)
        return record
    fields: dict[str, Any] = {"message": line.split(": ", 1)[1]}
    for key, raw in _PAIR.findall(line):
        try:
            fields[key] = json.loads(raw)
        except ValueError:
            fields[key] = raw
    return fields


def records(path: Path, fmt: str) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if fmt == "text":
        # Traceback lines follow their record; they carry no fields.
        lines = [line for line in lines if re.match(r"\d{4}-\d\d-\d\dT", line)]
    return [parse(line, fmt) for line in lines]


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen in {timeout}s")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_fire_and_task_lines_carry_their_ids(tmp_path: Path, fmt: str) -> None:
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"broker: {queue_url}\n"
        "entries:\n"
        "  adder: {task: t.add, every: 1s, args: [2, 3], queue: sums}\n"
    )
    beat_log, worker_log = tmp_path / "beat.log", tmp_path / "worker.log"
    env = worker_env()
    with beat_log.open("wb") as out:
        beat = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "beat",
                "--config",
                str(config),
                "-s",
                str(tmp_path / "s.db"),
                "--log-format",
                fmt,
            ],
            stderr=out,
            cwd=tmp_path,
            env=env,
        )
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            worker_argv(
                "--config",
                str(config),
                "-A",
                "consumer_tasks",
                "-Q",
                "sums,default",
                "-c",
                "1",
                "--log-format",
                fmt,
            ),
            stderr=out,
            cwd=tmp_path,
            env=env,
        )
    broker = open_broker(queue_url)
    try:
        failing = Message(id=uuid.uuid4().hex, task="t.add", queue="default", args=("x",))
        broker.enqueue_once(failing)
        wait_status(broker, failing.id, timeout=30)
        wait_until(lambda: "succeeded" in worker_log.read_text(), 30, "a success line")
    finally:
        broker.close()
        for proc in (beat, worker):
            proc.send_signal(signal.SIGTERM)
        assert beat.wait(20) == 0 and worker.wait(20) == 0

    fires = [r for r in records(beat_log, fmt) if r["message"].startswith("fire ")]
    assert fires, beat_log.read_text()
    for fire in fires:
        assert fire["entry"] == "adder" and fire["queue"] == "sums", fire
        assert fire["fire_id"].startswith("adder@") and fire["task_id"] == fire["fire_id"]
    fired = {f["task_id"] for f in fires}

    tasks = [r for r in records(worker_log, fmt) if "task_id" in r]
    done = [r for r in tasks if r.get("state") == "SUCCESS"]
    assert done, worker_log.read_text()
    for line in done:
        assert (line["task"], line["queue"]) == ("t.add", "sums"), line
        assert line["task_id"] in fired  # one id follows the fire from beat to the worker
        assert isinstance(line["runtime_s"], float) and line["runtime_s"] >= 0
    failed = [r for r in tasks if r.get("state") == "FAILURE"]
    assert len(failed) == 1, tasks
    assert failed[0]["task_id"] == failing.id and failed[0]["queue"] == "default"
    assert isinstance(failed[0]["runtime_s"], float)
    # The pool process's own line about the exception names the task and its id too.
    raised = [r for r in tasks if "raised" in r["message"]]
    assert raised and raised[0]["task_id"] == failing.id and raised[0]["task"] == "t.add"
