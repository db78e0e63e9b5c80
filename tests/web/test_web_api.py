"""The dashboard's JSON API against a running ``beat web`` on a real broker (Redis and the
SQLite queue): what each page shows, trigger with a real worker, CSRF, read-only, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import (
    Client,
    StartWeb,
    WebProcess,
    run_beat,
    wait_for,
    write_config,
)

PAGES = ("/entries", "/entries/nightly", "/timeline", "/queues", "/dead", "/workers", "/leader")
APIS = (
    "/api/entries",
    "/api/entries/nightly",
    "/api/entries/nightly/history",
    "/api/timeline",
    "/api/queues",
    "/api/queues/history",
    "/api/dead",
    "/api/workers",
    "/api/leader",
    "/api/openapi.json",
    "/api/session",
)


def test_every_page_and_api_answers(tmp_path: Path, broker_url: str, start_web: StartWeb) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    for path in PAGES + APIS:
        answer = client.get(path)
        assert answer.status == 200, (path, answer.text)
    entries = client.get("/api/entries").json()
    assert [e["name"] for e in entries["entries"]] == ["nightly", "tick", "paused", "spring"]
    paused = entries["entries"][2]
    assert paused["enabled"] is False and paused["next_fire"] is None
    assert client.get("/api/entries?q=nigh").json()["total"] == 1
    assert client.get("/api/entries/nope").status == 404
    assert client.get("/api/entries?limit=0").status == 400
    assert client.get("/api/tasks/never-seen").status == 404


def test_api_rows_are_beat_list_json(tmp_path: Path, start_web: StartWeb) -> None:
    """One rule: the API's entry rows are `beat list --json`'s objects (plus outcome/note)."""
    import json

    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}")
    web = start_web(config)
    cli_rows = json.loads(run_beat(tmp_path, config, "list", "--json"))
    api_rows = web.client().get("/api/entries").json()["entries"]
    for cli_row, api_row in zip(cli_rows, api_rows, strict=True):
        if cli_row["name"] == "tick":  # an interval without start: phase from first seen
            continue
        assert {k: api_row[k] for k in cli_row} == cli_row


def test_entry_shows_dst_notes_and_changes(tmp_path: Path, start_web: StartWeb) -> None:
    """02:30 on the second Sunday of March in New York never exists: each fire carries beat
    next's note, and the DST change at that instant is marked on the entry's timeline."""
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}"))
    client = web.client()
    detail = client.get("/api/entries/spring").json()
    first = detail["next"][0]
    assert first["at"].endswith("T03:00:00-04:00")
    assert (
        first["note"].startswith("02:30 does not exist on ")
        and "runs at 03:00 EDT" in first["note"]
    )
    jumps = {c["utc"]: c["jump_minutes"] for c in detail["dst_changes"]}
    assert jumps[first["utc"]] == 60  # the mark sits on the fire: clocks forward an hour
    assert -60 in jumps.values()  # and November's change back, on the way there
    row = client.get("/api/entries?q=spring").json()["entries"][0]
    assert row["next_note"] == first["note"]
    page = client.get("/entries/spring").text
    assert "DST +60m" in page and "does not exist" in page


def test_trigger_runs_and_shows_in_the_entry(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: object
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    run_worker(broker_url)  # type: ignore[operator]
    client = web.client()
    answer = client.post("/api/entries/tick/trigger", headers={"X-CSRF-Token": client.csrf()})
    assert answer.status == 200, answer.text
    task_id = answer.json()["task_id"]

    def succeeded() -> bool:
        task = client.get(f"/api/tasks/{task_id}")
        return task.status == 200 and task.json()["state"] == "SUCCESS"

    wait_for(succeeded, what=f"task {task_id} SUCCESS")
    # In the entry's history (the fire log joined with the task states: `beat history`).
    (fire,) = client.get("/api/entries/tick").json()["history"]
    assert (fire["fire_id"], fire["outcome"], fire["state"]) == (task_id, "manual", "SUCCESS")
    assert fire["by"] == "local@127.0.0.1" and fire["runtime_s"] >= 0, fire
    assert client.get("/api/entries/tick/history").json()["fires"] == [fire]
    out = run_beat(tmp_path, tmp_path / "schedules.yaml", "history", "tick")
    assert task_id in out and "SUCCESS" in out and "by hand: local@127.0.0.1" in out, out
    assert "triggered entry tick" in web.log() and "user=local@127.0.0.1" in web.log()


@pytest.mark.parametrize(
    "how",
    ["no session", "session without token", "wrong token", "token of another session"],
)
def test_action_without_the_csrf_token_is_refused(
    tmp_path: Path, start_web: StartWeb, how: str
) -> None:
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}"))
    client = web.client()
    headers: dict[str, str] = {}
    if how != "no session":
        token = client.csrf()
        if how == "wrong token":
            headers["X-CSRF-Token"] = token[:-2] + "xx"
        elif how == "token of another session":
            headers["X-CSRF-Token"] = web.client().csrf()
    answer = client.post("/api/entries/nightly/trigger", headers=headers)
    assert answer.status == 403, answer.text
    form_answer = client.post("/actions/entries/nightly/trigger", form={"csrf_token": "nope"})
    assert form_answer.status == 403
    assert "triggered" not in web.log()
    assert client.get("/api/entries/nightly").json()["history"] == []


def test_read_only_turns_every_action_off(tmp_path: Path, start_web: StartWeb) -> None:
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}"), "--read-only")
    client = web.client()
    assert client.get("/api/session").json()["read_only"] is True
    from beat.web.actions import ACTIONS

    assert len(ACTIONS) >= 9
    for action in ACTIONS:  # every action, present and future
        path = action.path.format(
            name="nightly", task_id="some-task", queue="default", message_id="some-id"
        )
        answer = client.post(f"/api{path}", headers={"X-CSRF-Token": client.csrf()})
        assert answer.status == 403 and "read-only" in answer.json()["error"], action.name
        assert client.get(f"/actions{path}").status == 409, action.name
    page = client.get("/entries/nightly").text
    assert "Trigger now" not in page and "/actions/" not in page
    assert "/actions/" not in client.get("/entries").text + client.get("/dead").text
    assert "read-only" in web.log() and "revoked" not in web.log()


def test_yaml_entry_cannot_be_disabled_from_the_dashboard(
    tmp_path: Path, start_web: StartWeb
) -> None:
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}"))
    client = web.client()
    answer = client.post("/api/entries/nightly/disable", headers={"X-CSRF-Token": client.csrf()})
    assert answer.status == 409
    assert "edit the file" in answer.json()["error"]


def test_enable_disable_an_sql_entry(tmp_path: Path, start_web: StartWeb) -> None:
    from beat.entries_api import EntryStore
    from beat.time import zones

    source = f"sqlite:///{tmp_path / 'entries.db'}"
    with EntryStore(source, zones.get("UTC")) as store:
        store.add("from-sql", {"task": "log", "every": "1h"})
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}", f"source: {source}\n")
    web = start_web(config)
    client = web.client()
    token = client.csrf()
    assert client.post("/api/entries/from-sql/disable", headers={"X-CSRF-Token": token}).json() == {
        "entry": "from-sql",
        "enabled": False,
    }
    assert client.get("/api/entries/from-sql").json()["enabled"] is False
    with EntryStore(source, zones.get("UTC")) as store:
        assert store.get("from-sql")["enabled"] is False
    client.post("/api/entries/from-sql/enable", headers={"X-CSRF-Token": token})
    assert client.get("/api/entries/from-sql").json()["enabled"] is True
    assert "disabled entry from-sql" in web.log()


def test_secrets_never_in_a_page_or_an_answer(tmp_path: Path, start_web: StartWeb) -> None:
    token = "web-token-secret-0123456789"
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path / 'queue.db'}", f"web: {{token: {token}}}\n"
    )
    web = start_web(config)
    client = web.client()
    assert client.get("/api/entries").status == 401
    login = client.post("/login?next=/entries", form={"secret": token})
    assert login.status == 303, login.text
    for path in PAGES + APIS:
        body = client.get(path).text
        assert token not in body and "kwargs-secret-123" not in body, path
    assert "***" in client.get("/api/entries/nightly").text


def _signed_in(web: WebProcess) -> Client:
    client = web.client()
    client.post("/login", form={"secret": "web-token-secret-0123456789"})
    return client


def test_broker_password_never_shown_even_in_errors(
    tmp_path: Path, redis_url: str, start_web: StartWeb
) -> None:
    """A broker URL with a password: pages, answers (errors included) and the log show the
    URL redacted, never the password."""
    base, _, index = redis_url.rpartition("/")
    secret_url = base.replace("redis://", "redis://:brokerpw-secret-42@") + "/" + index
    web = start_web(write_config(tmp_path, secret_url))
    client = web.client()
    for path in PAGES + APIS + ("/tasks/x", "/api/tasks/x"):
        answer = client.get(path)
        assert answer.status in (200, 404, 503), (path, answer.status, answer.text)
        assert "brokerpw-secret-42" not in answer.text, path
    leader = client.get("/api/leader").json()
    assert leader["broker"] == secret_url.replace("brokerpw-secret-42", "***")
    assert "brokerpw-secret-42" not in web.log()
