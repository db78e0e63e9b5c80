"""Messages are data, never code: JSON only, and a task name is looked up, never imported.

A message is written by whoever can reach the broker. If a worker unpickled payloads or
imported the module a task name points at, reaching Redis would mean running code on every
worker; here such messages are dead-lettered and the worker carries on.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
import uuid
from pathlib import Path

import pytest

from taskqueue.message import Message
from taskqueue.records import EncodedMessage
from taskqueue.redis import RedisBroker
from tests.faults import procs
from tests.faults.procs import StartProc, proc_env, wait_until
from worker.errors import UnknownTask
from worker.registry import REGISTRY

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
spawn = procs.spawn

CANARY = "sec_canary_{tag}"
CANARY_CODE = "import pathlib\npathlib.Path({marker!r}).write_text('imported')\n"


class Exploit:
    """Unpickling this runs a shell command (the classic pickle payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def raw(message_id: str, payload: bytes, task: str = "?") -> EncodedMessage:
    return EncodedMessage(
        id=message_id, queue="default", priority=0, eta=None, payload=payload, task=task
    )


def canary_module(tmp_path: Path) -> tuple[str, Path]:
    """A module that, if ever imported, leaves a marker file."""
    name = CANARY.format(tag=uuid.uuid4().hex[:8])
    marker = tmp_path / f"{name}.imported"
    (tmp_path / "canaries").mkdir(exist_ok=True)
    (tmp_path / "canaries" / f"{name}.py").write_text(CANARY_CODE.format(marker=str(marker)))
    return name, marker


def test_the_registry_looks_names_up_and_never_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, marker = canary_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "canaries"))
    names = [f"{name}.run", name, "os.system", "subprocess.call", "antigravity.fly",
             "builtins.eval", "__import__", "importlib.import_module", "this"]  # fmt: skip
    before = set(sys.modules)
    for task_name in names:
        with pytest.raises(UnknownTask, match="unknown task"):
            REGISTRY.get(task_name)
    assert set(sys.modules) - before == set()
    assert "antigravity" not in sys.modules and name not in sys.modules
    assert not marker.exists()


def test_pickle_and_module_path_messages_are_dead_lettered_by_a_worker(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    name, marker = canary_module(tmp_path)
    pickled_marker = tmp_path / "unpickled"
    system_marker = tmp_path / "os-system-ran"
    env = proc_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "canaries"), env["PYTHONPATH"]])
    worker = spawn("worker", "--broker", redis_url, "-A", "fault_tasks", "-c", "1", env=env)
    worker.wait_for_log(" ready: ")
    broker = RedisBroker(redis_url)
    marks = tmp_path / "marks"
    try:
        assert broker.enqueue_encoded(
            [
                raw("pickle-1", pickle.dumps(Exploit(pickled_marker))),
                raw("pickle-0", pickle.dumps({"task": "f.mark"}, protocol=0)),
            ]
        ) == [True, True]
        assert broker.enqueue_once(Message(id="canary", task=f"{name}.run"))
        assert broker.enqueue_once(
            Message(id="system", task="os.system", args=(f"touch {system_marker}",))
        )
        assert broker.enqueue_once(Message(id="good", task="f.mark", args=(str(marks), "ok")))
        wait_until(lambda: marks.exists() and "end ok" in marks.read_text(), 15, "the good task")
        wait_until(lambda: len(broker.dead_letters("default")) == 4, 10, "4 dead letters")
        reasons = {d.message_id: d.reason for d in broker.dead_letters("default")}
    finally:
        broker.close()
    assert reasons["pickle-1"].startswith("undecodable: ")
    assert reasons["pickle-0"].startswith("undecodable: ")
    assert reasons["canary"] == f"unknown task '{name}.run'"
    assert reasons["system"] == "unknown task 'os.system'"
    assert not pickled_marker.exists() and not system_marker.exists() and not marker.exists()
    assert worker.proc.poll() is None
    assert worker.stop() == 0


def test_a_deeply_nested_payload_is_dead_lettered_and_the_worker_survives(
    tmp_path: Path, redis_url: str, spawn: StartProc
) -> None:
    worker = spawn("worker", "--broker", redis_url, "-A", "fault_tasks", "-c", "1")
    worker.wait_for_log(" ready: ")
    broker = RedisBroker(redis_url)
    marks = tmp_path / "marks"
    depth = 50_000
    payload = json.dumps({"v": 1, "id": "deep", "task": "f.mark"}).encode()
    payload = payload[:-1] + b',"args":' + b"[" * depth + b"]" * depth + b"}"
    try:
        assert broker.enqueue_encoded([raw("deep", payload)]) == [True]
        time.sleep(0.5)
        assert broker.enqueue_once(Message(id="after", task="f.mark", args=(str(marks), "ok")))
        wait_until(lambda: marks.exists() and "end ok" in marks.read_text(), 15, "the next task")
        reasons = {d.message_id: d.reason for d in broker.dead_letters("default")}
    finally:
        broker.close()
    assert reasons.get("deep", "").startswith("undecodable: ")
    assert worker.proc.poll() is None
