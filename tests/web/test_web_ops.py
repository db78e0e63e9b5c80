"""The operator's pages and actions of the dashboard (workers, revoke, dead letters, pause and
resume, an entry's history, a task's lineage) against a running ``beat web`` on a real broker
(Redis and the SQLite queue) with real workers: each over its JSON API and its page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.web.conftest import Client, StartWeb, run_beat, send, wait_for, write_config


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


def test_revoke_a_queued_and_a_running_task(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: Any
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    token = client.csrf()
    queued = send(broker_url, "t.sleep_mark", 0, str(tmp_path / "marks"), "queued")
    answer = client.post(f"/api/tasks/{queued.id}/revoke", headers={"X-CSRF-Token": token})
    assert answer.status == 200, answer.text
    assert (answer.json()["where"], answer.json()["queue"]) == ("queued", "default")
    assert task_state(client, queued.id) == "REVOKED"
    assert f"local@127.0.0.1 revoked task {queued.id}" in web.log()

    run_worker(broker_url)
    running = send(broker_url, "t.sleep_mark", 60, str(tmp_path / "marks"), "long")
    wait_for(lambda: task_state(client, running.id) == "STARTED", what="the task STARTED")
    assert 'id="revoke-terminate"' in client.get(f"/tasks/{running.id}").text
    answer = client.post(
        f"/api/tasks/{running.id}/revoke?terminate=true", headers={"X-CSRF-Token": token}
    )
    assert (answer.json()["where"], answer.json()["terminate"]) == ("running", True), answer.text
    wait_for(lambda: task_state(client, running.id) == "REVOKED", what="the task REVOKED")
    assert 'id="revoke"' not in client.get(f"/tasks/{running.id}").text
    assert (
        client.post("/api/tasks/x/revoke?terminate=maybe", headers={"X-CSRF-Token": token}).status
        == 400
    )


def test_requeue_one_requeue_all_and_purge_dead_letters(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: Any
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    token = {"X-CSRF-Token": client.csrf()}
    run_worker(broker_url)
    # t.flaky fails `failures` times: 4 is out of its 3 retries (dead), and a fifth run works.
    one, two = (send(broker_url, "t.flaky", str(tmp_path / n), 4) for n in ("one", "two"))
    never = send(broker_url, "t.flaky", str(tmp_path / "never"), 100)

    def dead_ids() -> set[str]:
        return {d["id"] for d in client.get("/api/dead").json()["dead_letters"]}

    wait_for(lambda: dead_ids() == {one.id, two.id, never.id}, what="three dead letters")
    page = client.get("/dead").text
    assert f"/actions/dead/default/{one.id}/requeue" in page
    assert "Requeue all 3 dead letter(s) of every queue" in client.get("/actions/dead/requeue").text

    answer = client.post(f"/api/dead/default/{one.id}/requeue", headers=token)
    assert answer.json()["done"] == "requeued 1 dead letter(s)", answer.text
    wait_for(lambda: task_state(client, one.id) == "SUCCESS", what="the requeued one SUCCESS")
    assert client.post(f"/api/dead/default/{one.id}/requeue", headers=token).status == 404

    answer = client.post("/api/dead/requeue?queue=default", headers=token)
    assert {r["id"] for r in answer.json()["requeued"]} == {two.id, never.id}, answer.text
    wait_for(lambda: task_state(client, two.id) == "SUCCESS", what="the second one SUCCESS")
    wait_for(lambda: dead_ids() == {never.id}, what="the failing one dead again")

    assert "Delete all 1 dead letter(s) of every queue" in client.get("/actions/dead/purge").text
    answer = client.post("/api/dead/purge", headers=token)
    assert (answer.json()["total"], answer.json()["purged"]) == (1, {"default": 1}), answer.text
    assert dead_ids() == set()
    assert "local@127.0.0.1 purged 1 dead letter(s)" in web.log()
    assert "local@127.0.0.1 requeued 2 dead letter(s) of queue default" in web.log()


def test_pause_with_a_note_and_resume(tmp_path: Path, broker_url: str, start_web: StartWeb) -> None:
    import json

    config = write_config(tmp_path, broker_url)
    web = start_web(config)
    client = web.client()
    token = client.csrf()
    assert 'id="pause"' in client.get("/entries/tick").text
    confirm = client.get("/actions/entries/tick/pause").text
    assert 'name="note"' in confirm
    answer = client.post(
        "/actions/entries/tick/pause", form={"csrf_token": token, "note": "db migration"}
    )
    assert answer.status == 303, answer.text
    row = client.get("/api/entries?q=tick").json()["entries"][0]
    assert row["paused"]["note"] == "db migration" and row["next_fire"] is None, row
    assert "db migration" in client.get("/entries").text
    page = client.get("/entries/tick").text
    assert 'id="resume"' in page and "paused</span> since" in page
    # Kept in the run state: `beat list` (and every beat sharing it) sees the same pause.
    listed = run_beat(tmp_path, config, "list", "--json")
    (cli_row,) = [r for r in json.loads(listed) if r["name"] == "tick"]
    assert cli_row["paused"] == row["paused"]
    # The fires the beat will send: none of the paused entry, on its page and the timeline.
    assert client.get("/api/entries/tick").json()["next"] == []
    timeline = client.get("/api/timeline").json()
    assert "tick" not in {f["entry"] for f in timeline["fires"]} and timeline["fires"]
    assert [p["entry"] for p in timeline["paused"]] == ["tick"]
    assert "paused: no fires until resumed" in page

    answer = client.post("/api/entries/tick/resume", headers={"X-CSRF-Token": token})
    assert answer.json()["done"].startswith("resumed tick (paused since "), answer.text
    row = client.get("/api/entries?q=tick").json()["entries"][0]
    assert row["paused"] is None and row["next_fire"] is not None
    timeline = client.get("/api/timeline").json()
    assert "tick" in {f["entry"] for f in timeline["fires"]} and timeline["paused"] == []
    answer = client.post("/api/entries/tick/pause?note=again", headers={"X-CSRF-Token": token})
    assert answer.json()["done"].endswith(": again")
    assert client.post("/api/entries/nope/pause", headers={"X-CSRF-Token": token}).status == 404
    assert "local@127.0.0.1: paused tick since" in web.log()


def test_task_page_shows_traceback_parent_and_children(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: Any
) -> None:
    from worker import Signature, send_task
    from worker.producer import configure

    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    run_worker(broker_url, "-A", "status_tasks")
    failed = send(broker_url, "s.boom", "bad <input>")
    configure(broker=broker_url)
    try:
        # By name (the code is the worker's): importing status_tasks here would register its
        # tasks under a second module name when tests/worker already imported it.
        parent = send_task("s.ok", link=Signature("s.ok", immutable=True))
    finally:
        configure(broker=None)
    child_id = f"{parent.id}:link:0"
    wait_for(lambda: task_state(client, failed.id) == "FAILURE", what="the failure")
    wait_for(lambda: task_state(client, child_id) == "SUCCESS", what="the callback ran")

    data = client.get(f"/api/tasks/{failed.id}").json()
    assert data["traceback"].rstrip().endswith("ValueError: bad <input>"), data
    page = client.get(f"/tasks/{failed.id}").text
    assert 'id="traceback"' in page and "ValueError: bad &lt;input&gt;" in page
    assert client.get(f"/api/tasks/{parent.id}").json()["children"] == [child_id]
    assert f'href="/tasks/{child_id.replace(":", "%3A")}"' in client.get(f"/tasks/{parent.id}").text
    assert client.get(f"/api/tasks/{child_id}").json()["parent_id"] == parent.id
    assert f'href="/tasks/{parent.id}"' in client.get(f"/tasks/{child_id}").text
