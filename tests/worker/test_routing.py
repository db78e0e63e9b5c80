"""Routing (issue 14 item 5): ``routes:`` applied to every call and every entry, with real
worker and beat processes on both brokers; precedence explicit > ``@task`` > route > default."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import routing_tasks

from taskqueue.broker import Broker
from taskqueue.message import Message
from tests.daemon.conftest import StartBeat, beat_starter
from tests.taskqueue import single
from tests.worker.conftest import StartWorker
from worker import configure, group, send_task

ROUTES = {
    "r.touch": {"queue": "files"},
    "r.*": {"queue": "routed", "priority": 3, "time_limit": "1m", "max_retries": 2},
}


@pytest.fixture
def routed(broker_url: str) -> Iterator[str]:
    configure(broker=broker_url, routes=ROUTES)
    yield broker_url
    configure(broker=None)


def _take(broker: Broker, queue: str) -> Message:
    delivery = single.claim(broker, [queue], "test", timedelta(seconds=30), timedelta(0))
    assert delivery is not None, f"nothing on queue {queue!r}"
    assert single.ack(broker, delivery)
    return Message.decode(delivery.payload)


def test_calls_follow_routes_under_explicit_and_task_options(routed: str, broker: Broker) -> None:
    routing_tasks.add.delay(1, 2)
    m = _take(broker, "routed")
    assert (m.task, m.priority, m.time_limit) == ("r.add", 3, timedelta(minutes=1))
    assert m.retry.max_retries == 2
    # An explicit option wins over the route, one option at a time.
    routing_tasks.add.apply_async((1, 2), queue="other", priority=7)
    m = _take(broker, "other")
    assert (m.priority, m.time_limit) == (7, timedelta(minutes=1))
    # @task(queue=..., time_limit=...) wins over the route (the code is imported here).
    routing_tasks.pinned.delay()
    m = _take(broker, "pinned")
    assert m.time_limit is None  # the worker applies the task's own
    # send_task, signatures and group members: the same rule; first matching pattern wins.
    send_task("r.unknown")
    assert _take(broker, "routed").task == "r.unknown"
    routing_tasks.add.s(1, 1).delay()
    assert _take(broker, "routed").task == "r.add"
    group([routing_tasks.add.s(1, 1), routing_tasks.touch.s("p", "t")]).delay()
    assert _take(broker, "routed").task == "r.add"
    assert _take(broker, "files").task == "r.touch"
    send_task("other.task")
    assert _take(broker, "default").task == "other.task"


def test_configure_refuses_bad_routes_naming_the_field(broker_url: str) -> None:
    with pytest.raises(ValueError, match=r"routes\.r\.\*\.priority: must be at most 9"):
        configure(broker=broker_url, routes={"r.*": {"priority": 12}})
    configure(broker=None)


def test_the_producer_reads_routes_from_its_config_file(
    tmp_path: Path, broker_url: str, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(f"broker: {broker_url}\nroutes:\n  r.*:\n    queue: fromfile\n")
    monkeypatch.setenv("BEAT_CONFIG", str(config))
    configure()
    try:
        routing_tasks.add.delay(1, 1)
        assert _take(broker, "fromfile").task == "r.add"
    finally:
        monkeypatch.delenv("BEAT_CONFIG")
        configure()


def _config(tmp_path: Path, marker: Path) -> Path:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "routes:\n"
        "  r.touch:\n"
        "    queue: files\n"
        "  r.*:\n"
        "    queue: routed\n"
        "entries:\n"
        "  touch:\n"
        "    task: r.touch\n"
        "    every: 1s\n"
        f"    args: [{str(marker)!r}, fired]\n"
    )
    return config


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path) as start:
        yield start


def test_routed_call_callback_and_entry_fire_run_on_routed_queues(
    tmp_path: Path,
    broker_url: str,
    start_worker: StartWorker,
    start_beat: StartBeat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers consume only the routed queues: a call, a chain step sent by a worker and a
    beat fire each run only if they were routed there."""
    marker = tmp_path / "fired.txt"
    config = _config(tmp_path, marker)
    monkeypatch.setenv("BEAT_CONFIG", str(config))
    configure(broker=broker_url)
    try:
        start_worker(broker_url, "--config", str(config), "-A", "routing_tasks", "-Q", "routed")
        start_worker(broker_url, "--config", str(config), "-A", "routing_tasks", "-Q", "files")
        assert routing_tasks.add.delay(2, 3).get(timeout=15) == 5
        # The second step is sent by the worker that ran the first: routed there.
        chained = (routing_tasks.add.s(1, 1) | routing_tasks.add.s(5)).apply_async()
        assert chained.get(timeout=15) == 7
        start_beat(config, tmp_path / "schedule.db", broker_url)
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text() == "fired"
    finally:
        configure(broker=None)


def test_worker_warns_when_a_task_queue_differs_from_its_route(
    tmp_path: Path, broker_url: str, start_worker: StartWorker
) -> None:
    config = tmp_path / "w.yaml"
    config.write_text("routes:\n  r.*:\n    queue: routed\n")
    worker = start_worker(broker_url, "--config", str(config), "-A", "routing_tasks")
    worker.wait_for_log("r.pinned: @task(queue='pinned') differs from routes: (queue 'routed')")
