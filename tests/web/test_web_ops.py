"""The operator's pages and actions of the dashboard (workers, revoke, dead letters, pause and
resume, an entry's history, a task's lineage) against a running ``beat web`` on a real broker
(Redis and the SQLite queue) with real workers: each over its JSON API and its page."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from taskqueue.message import Message
from taskqueue.urls import open_broker
from tests.web.conftest import Client, StartWeb, wait_for, write_config


def send(url: str, task: str, *args: Any, **fields: Any) -> Message:
    message = Message(id=uuid.uuid4().hex, task=task, queue="default", args=args, **fields)
    broker = open_broker(url)
    try:
        assert broker.enqueue_once(message)
    finally:
        broker.close()
    return message


def task_state(client: Client, task_id: str) -> str | None:
    answer = client.get(f"/api/tasks/{task_id}")
    return answer.json()["state"] if answer.status == 200 else None


def test_workers_page_shows_live_workers_and_their_tasks(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: Any
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    assert client.get("/api/workers").json() == {"workers": []}
    worker = run_worker(broker_url)
    message = send(broker_url, "t.sleep_mark", 30, str(tmp_path / "marks"), "long")

    def running() -> Any:
        workers = client.get("/api/workers").json()["workers"]
        return workers if workers and workers[0].get("tasks") else None

    (seen,) = wait_for(running, what="the worker with its running task")
    assert seen["state"] == "live" and seen["pid"] == worker.pid, seen
    assert seen["pool"] == "threads" and seen["queues"] == ["default"]
    assert [(t["id"], t["task"]) for t in seen["tasks"]] == [(message.id, "t.sleep_mark")]
    page = client.get("/workers").text
    assert seen["name"] in page and f"t.sleep_mark[{message.id}]" in page
