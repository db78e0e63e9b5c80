"""``worker -A mytasks`` in the directory holding ``mytasks.py``, and ``imports:`` next to the
schedules.yaml, work from the installed console script (whose ``sys.path[0]`` is ``bin/``) with
the prefork pool (fresh interpreters), as Celery users expect."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from taskqueue.message import Message
from taskqueue.records import TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import wait_status

WORKER = Path(sys.executable).parent / "worker"

TASKS = textwrap.dedent(
    """
    from worker import task

    @task(name="{name}")
    def hello(x):
        return x * 2
    """
)


@pytest.mark.skipif(not WORKER.exists(), reason="needs the installed worker console script")
@pytest.mark.parametrize("how", ["-A in the current directory", "imports: next to the config"])
def test_task_module_beside_the_user_is_importable(tmp_path: Path, how: str) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "mytasks.py").write_text(TASKS.format(name="mine.double"))
    if how.startswith("-A"):
        cwd, args = project, ["-A", "mytasks"]
    else:
        (project / "schedules.yaml").write_text("imports: [mytasks]\n")
        cwd, args = elsewhere, ["--config", str(project / "schedules.yaml")]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BEAT_CONFIG")}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(WORKER), "--broker", url, "-P", "prefork", "-c", "1", *args],
            stderr=out,
            cwd=cwd,
            env=env,
        )
    broker = open_broker(url)
    try:
        message = Message(id=uuid.uuid4().hex, task="mine.double", args=(21,))
        broker.enqueue_once(message)
        try:
            status = wait_status(broker, message.id, timeout=20)
        except AssertionError:
            raise AssertionError(log.read_text()) from None
        assert (status.state, status.result) == (TaskState.SUCCESS, 42), log.read_text()
    finally:
        broker.close()
        proc.terminate()
        proc.wait(20)
