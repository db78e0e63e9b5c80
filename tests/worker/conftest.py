"""Real brokers (Redis and SQLite, one parametrized fixture) and real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from taskqueue.broker import Broker
from taskqueue.message import Message
from taskqueue.records import FINAL_STATES, TaskStatus
from taskqueue.urls import open_broker
from tests.logged_process import LoggedProcess, reaped
from worker.consumer import Consumer
from worker.pools import make_pool

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent.parent


@pytest.fixture(params=["redis", "sqlite"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def producer(broker_url: str) -> Iterator[str]:
    """The calling API (``delay``, ``TaskResult``) pointed at ``broker_url`` for one test."""
    from worker.producer import configure

    configure(broker=broker_url)
    yield broker_url
    configure(broker=None)


@pytest.fixture
def broker(broker_url: str) -> Iterator[Broker]:
    b = open_broker(broker_url)
    yield b
    b.close()


def send(broker: Broker, task: str, *args: Any, queue: str = "default", **fields: Any) -> Message:
    """Enqueue one message and return it."""
    message = Message(id=uuid.uuid4().hex, task=task, queue=queue, args=args, **fields)
    assert broker.enqueue_once(message)
    return message


def wait_status(
    broker: Broker, task_id: str, states: Any = FINAL_STATES, timeout: float = 15
) -> TaskStatus:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = broker.get_status(task_id)
        if status is not None and status.state in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not reach {states} in {timeout}s: {status}")


@dataclass
class WorkerProcess(LoggedProcess):
    WHAT: ClassVar[str] = "worker"

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout}s:\n{self.log()}") from None


StartWorker = Callable[..., WorkerProcess]


def worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from worker.cli import main; main()", *args]


def worker_env(tasks_dir: Path = TESTS_DIR) -> dict[str, str]:
    """The environment of a worker process whose task modules are in TASKS_DIR."""
    path = os.pathsep.join([str(tasks_dir), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


@contextmanager
def worker_starter(tmp_path: Path, app: list[str], env: dict[str, str]) -> Iterator[StartWorker]:
    """Start ``worker`` processes running ``APP ARGS`` (logs in tmp_path); all are killed on
    exit."""
    procs: list[WorkerProcess] = []

    def start(broker_url: str, *args: str, ready: bool = True) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(procs)}.log"
        argv = worker_argv("--broker", broker_url, *app, *args)
        worker = WorkerProcess.launch(argv, log_path, env=env, cwd=tmp_path, start_new_session=True)
        procs.append(worker)
        if ready:
            worker.wait_for_log(" ready: ")
        return worker

    with reaped(procs):
        yield start


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``worker`` processes (with the test tasks); all are killed at teardown."""
    with worker_starter(tmp_path, ["-A", "consumer_tasks", "-l", "debug"], worker_env()) as start:
        yield start


def kill9_group(worker: WorkerProcess) -> None:
    """SIGKILL the worker and its pool processes at once, like a machine dying."""
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)


# The in-process consumers' lease: long enough that no test sees one run out by accident.
LEASE = timedelta(seconds=30)


def threads_consumer(broker: Broker, renewal_broker: Broker, concurrency: int = 2) -> Consumer:
    """An in-process consumer of ``default`` (a fresh name, lease :data:`LEASE`) over a started
    thread pool of ``concurrency``; not running yet."""
    pool = make_pool("threads", concurrency, modules=[])
    pool.start()
    return Consumer(
        broker,
        pool,
        queues=["default"],
        name=f"c-{uuid.uuid4().hex[:6]}",
        lease=LEASE,
        renewal_broker=renewal_broker,
    )
