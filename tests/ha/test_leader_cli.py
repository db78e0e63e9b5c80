"""`beat list` and `beat config` say who leads."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from taskqueue.redis import RedisBroker
from taskqueue.sqlite import SQLiteBroker
from tests.cli.runner import run


def config(tmp_path: Path, broker: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(f"broker: {broker}\nentries:\n  ping:\n    task: noop\n    every: 30s\n")
    return path


def test_sqlite_no_leader_then_leader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    cfg = config(tmp_path, url)
    state = str(tmp_path / "schedule.db")
    code, out, err = run(capsys, "-s", state, "list", "--config", str(cfg))
    assert code == 0, err
    assert out.splitlines()[-1] == "no leader"
    assert not (tmp_path / "queue.db").exists()  # looking does not create the queue

    broker = SQLiteBroker(url)
    token = broker.acquire_lease("beat", "host-a:42:cafe", timedelta(seconds=30))
    broker.close()
    code, out, err = run(capsys, "-s", state, "list", "--config", str(cfg))
    assert code == 0, err
    last = out.splitlines()[-1]
    assert last.startswith(f"leader: host-a:42:cafe (token {token}, lease until 20")
    code, out, err = run(capsys, "config", "--config", str(cfg))
    assert code == 0, err
    assert f"leader: host-a:42:cafe (token {token}" not in out  # YAML, not the list line
    assert "owner: host-a:42:cafe" in out
    code, out, err = run(capsys, "config", "--config", str(cfg), "--json")
    leader = json.loads(out)["leader"]
    assert (leader["owner"], leader["token"]) == ("host-a:42:cafe", token)
    # `list --json` stays a list of entries.
    code, out, _ = run(capsys, "-s", state, "list", "--config", str(cfg), "--json")
    assert [row["name"] for row in json.loads(out)] == ["ping"]


def test_redis_leader_and_unreachable(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = RedisBroker(redis_url)
    token = broker.acquire_lease("beat", "host-b:7:beef", timedelta(seconds=30))
    broker.close()
    cfg = config(tmp_path, redis_url)
    code, out, err = run(capsys, "-s", str(tmp_path / "s.db"), "list", "--config", str(cfg))
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"leader: host-b:7:beef (token {token}")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = config(tmp_path, f"redis://:hunter2@127.0.0.1:{port}/0")
    code, out, err = run(capsys, "-s", str(tmp_path / "s.db"), "list", "--config", str(cfg))
    assert code == 0, err
    last = out.splitlines()[-1]
    assert last.startswith("leader: unknown (") and "unreachable" in last
    assert "hunter2" not in out
