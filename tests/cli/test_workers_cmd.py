"""``beat workers``: each worker's heartbeat record on both brokers, with real workers: it
appears with what it runs, a clean stop removes it at once, a kill -9 shows it missed once its
heartbeat runs out, and garbage in the store is one clear line, not a crash."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskqueue.broker import Broker
from taskqueue.records import TaskState
from tests.cli.conftest import Ops
from tests.cli.runner import run
from tests.worker.conftest import StartWorker, kill9_group, send, wait_status


def listed(capsys: pytest.CaptureFixture[str], url: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "workers", "--json", "--broker", url)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def wait_listed(
    capsys: pytest.CaptureFixture[str], url: str, check: Any, timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = listed(capsys, url)
        if check(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_a_worker_appears_with_its_tasks_and_a_clean_stop_removes_it_at_once(ops: Ops) -> None:
    worker = ops.start_worker(
        ops.broker_url, "-n", "w-ops", "-c", "2", "-P", "threads", "-Q", "default,mail",
        "--lease", "3s", "--shutdown-timeout", "0.5s",
    )  # fmt: skip
    message = send(ops.broker, "t.sleep_mark", 30, str(ops.tmp_path / "marks"))
    wait_status(ops.broker, message.id, states={TaskState.STARTED})
    rows = wait_listed(ops.capsys, ops.broker_url, lambda rs: rs and rs[0].get("tasks"))
    (row,) = rows
    assert row["name"] == "w-ops" and row["state"] == "live", rows
    assert (row["pool"], row["concurrency"], row["queues"]) == ("threads", 2, ["default", "mail"])
    assert row["pid"] == worker.proc.pid and row["host"] and row["version"]
    assert [(t["id"], t["task"]) for t in row["tasks"]] == [(message.id, "t.sleep_mark")]
    code, out, _ = run(ops.capsys, "workers", "--broker", ops.broker_url)
    assert code == 0 and "w-ops" in out and "live" in out and message.id in out, out
    worker.signal(15)
    assert worker.wait() == 0
    assert listed(ops.capsys, ops.broker_url) == [], worker.log()


def test_a_killed_worker_shows_as_missed_once_its_heartbeat_runs_out(
    broker_url: str, start_worker: StartWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = start_worker(broker_url, "-n", "w-gone", "-c", "1", "-P", "threads", "--lease", "1.5s")
    rows = wait_listed(capsys, broker_url, lambda rs: rs)
    assert [(r["name"], r["state"]) for r in rows] == [("w-gone", "live")]
    kill9_group(worker)
    rows = wait_listed(capsys, broker_url, lambda rs: rs and rs[0]["state"] == "missed", 10)
    assert [(r["name"], r["state"]) for r in rows] == [("w-gone", "missed")]
    code, out, _ = run(capsys, "workers", "--broker", broker_url)
    assert code == 0 and "MISSED" in out, out


def test_garbage_in_a_heartbeat_record_is_one_clear_line(
    broker_url: str, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskqueue.heartbeats import RunningTask, WorkerRecord

    good = WorkerRecord("w-good", "h", 1, "0", ("default",), "threads", 1, broker.now(),
                        (RunningTask("id1", "t.x", broker.now()),))  # fmt: skip
    broker.publish_worker(good, timedelta(seconds=30))
    broker.publish_worker(
        WorkerRecord("w-bad", "h", 2, "0", (), "threads", 1, broker.now()),
        timedelta(seconds=30),
    )
    if broker_url.startswith("redis"):
        import redis

        client: Any = redis.Redis.from_url(broker_url)
        client.hset("beat:workers", "w-bad", b'123:{"name": 5}')
        client.hset("beat:workers", "w-worse", b"\xff not even a header")
        client.zadd("beat:workers:expires", {"w-worse": 1})
    else:
        import sqlite3

        db = sqlite3.connect(broker_url.removeprefix("sqlite:///"))
        db.execute("UPDATE workers SET record = '{\"name\": 5}' WHERE name = 'w-bad'")
        db.execute("INSERT INTO workers VALUES ('w-worse', 'x', 'soon', 'later')")
        db.commit()
        db.close()
    rows = {r["name"]: r for r in listed(capsys, broker_url)}
    assert rows["w-good"]["tasks"][0]["id"] == "id1"
    assert "field 'name'" in rows["w-bad"]["problem"], rows
    if broker_url.startswith("sqlite"):
        assert "not both epoch seconds" in rows["w-worse"]["problem"], rows
    code, out, err = run(capsys, "workers", "--broker", broker_url)
    assert code == 0, err
    assert "w-bad: worker 'w-bad': heartbeat record: field 'name' is 5, not a str" in out, out


def test_looking_at_a_queue_file_not_yet_made_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``beat workers`` reads the broker like ``beat queues`` (beat/cli/reading.py): a SQLite
    queue file that does not exist yet reads as no workers and is not created by looking."""
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    code, out, err = run(capsys, "workers", "--broker", url)
    assert (code, out.strip()) == (0, "no workers"), err
    assert listed(capsys, url) == []
    assert list(tmp_path.iterdir()) == []
