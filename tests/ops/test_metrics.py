"""Prometheus metrics served on a real port and scraped over HTTP."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemonkit.metrics import (
    MAX_TASK_LABELS,
    OTHER_TASKS,
    BeatMetrics,
    MetricsError,
    MetricsServer,
    WorkerMetrics,
    start_metrics_server,
)
from taskqueue.message import Message
from taskqueue.records import QueueStats
from taskqueue.urls import open_broker
from worker.service import broker_stats

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    metrics = start_metrics_server(0)  # an ephemeral port: parallel tests never collide
    yield metrics
    metrics.close()


def scrape(server: MetricsServer) -> Samples:
    with urllib.request.urlopen(server.url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_beat_metrics_change_after_calls(server: MetricsServer) -> None:
    beat = BeatMetrics(server.registry)
    before = scrape(server)
    assert value(before, "beat_fires_total", outcome="sent") == 0
    assert value(before, "beat_fires_total", outcome="skipped") == 0
    assert value(before, "beat_fire_lateness_seconds_count") == 0
    assert value(before, "beat_leader") == 0

    beat.fires_sent([0.004])
    beat.fires_sent([0.0005, 0.2, 75.0, -0.5])  # -0.5: sent early (lookahead), counts as 0
    beat.fire_duplicate()
    beat.fires_skipped(3)
    beat.set_entries(enabled=7, disabled=2)
    beat.set_leader(True)
    beat.dispatch_error()

    after = scrape(server)
    assert value(after, "beat_fires_total", outcome="sent") == 5
    assert value(after, "beat_fires_total", outcome="duplicate") == 1
    assert value(after, "beat_fires_total", outcome="skipped") == 3
    assert value(after, "beat_fire_lateness_seconds_count") == 5
    assert value(after, "beat_fire_lateness_seconds_sum") == pytest.approx(75.2045)
    bucket = "beat_fire_lateness_seconds_bucket"
    assert value(after, bucket, le="0.001") == 2  # 0.0005 and the early one
    assert value(after, bucket, le="0.005") == 3
    assert value(after, bucket, le="0.25") == 4
    assert value(after, bucket, le="60.0") == 4
    assert value(after, bucket, le="+Inf") == 5
    assert value(after, "beat_entries", state="enabled") == 7
    assert value(after, "beat_entries", state="disabled") == 2
    assert value(after, "beat_leader") == 1
    assert value(after, "beat_dispatch_errors_total") == 1
    # The process collector is there too (CPU and memory of the daemon).
    assert value(after, "process_resident_memory_bytes") > 0

    beat.set_leader(False)
    assert value(scrape(server), "beat_leader") == 0


def test_fire_metrics_have_no_entry_label(server: MetricsServer) -> None:
    BeatMetrics(server.registry).fires_sent([0.01])
    names_with_labels = {labels for (name, labels) in scrape(server) if name.startswith("beat_")}
    assert not any(key == "entry" for labels in names_with_labels for key, _ in labels)


def test_worker_task_metrics(server: MetricsServer) -> None:
    worker = WorkerMetrics(server.registry)
    worker.task_finished("t.add", "SUCCESS", 0.003)
    worker.task_finished("t.add", "SUCCESS", 0.2)
    worker.task_finished("t.slow", "FAILURE", 12.0)
    worker.task_finished("t.add", "EXPIRED")  # never ran: counted, no run time
    worker.time_limit_kill("t.slow", "hard")
    worker.time_limit_kill("t.slow", "soft")
    worker.time_limit_kill("t.slow", "soft")
    with pytest.raises(ValueError, match="time limit kind"):
        worker.time_limit_kill("t.slow", "medium")  # type: ignore[arg-type]

    s = scrape(server)
    assert value(s, "worker_tasks_total", task="t.add", state="SUCCESS") == 2
    assert value(s, "worker_tasks_total", task="t.add", state="EXPIRED") == 1
    assert value(s, "worker_tasks_total", task="t.slow", state="FAILURE") == 1
    assert value(s, "worker_task_runtime_seconds_count", task="t.add") == 2
    assert value(s, "worker_task_runtime_seconds_bucket", task="t.add", le="0.005") == 1
    assert value(s, "worker_task_runtime_seconds_sum", task="t.slow") == 12.0
    assert value(s, "worker_time_limit_kills_total", task="t.slow", kind="hard") == 1
    assert value(s, "worker_time_limit_kills_total", task="t.slow", kind="soft") == 2


def test_made_up_task_names_cannot_grow_the_series_without_bound(server: MetricsServer) -> None:
    worker = WorkerMetrics(server.registry)
    for i in range(MAX_TASK_LABELS + 50):
        worker.task_finished(f"junk.{i}", "DEAD")
    worker.time_limit_kill("junk.late", "hard")
    s = scrape(server)
    tasks = {dict(labels)["task"] for name, labels in s if name == "worker_tasks_total"}
    assert len(tasks) == MAX_TASK_LABELS + 1  # the first names, then one catch-all
    assert value(s, "worker_tasks_total", task=OTHER_TASKS, state="DEAD") == 50
    assert value(s, "worker_time_limit_kills_total", task=OTHER_TASKS, kind="hard") == 1
    # Names already seen keep their own series.
    worker.task_finished("junk.0", "DEAD")
    assert value(scrape(server), "worker_tasks_total", task="junk.0", state="DEAD") == 2


def test_queue_depths_are_read_on_each_scrape(server: MetricsServer) -> None:
    depths = [QueueStats("default", ready=3, delayed=1, in_flight=2, dead=0, consumers=1)]
    WorkerMetrics(server.registry).watch_queues(lambda: depths)
    s = scrape(server)
    assert value(s, "worker_queue_depth", queue="default", kind="ready") == 3
    assert value(s, "worker_queue_depth", queue="default", kind="in_flight") == 2
    depths[0] = QueueStats("default", ready=0, delayed=0, in_flight=0, dead=5, consumers=1)
    s = scrape(server)
    assert value(s, "worker_queue_depth", queue="default", kind="ready") == 0
    assert value(s, "worker_queue_depth", queue="default", kind="dead") == 5


def test_a_failing_queue_read_is_counted_and_the_scrape_still_answers(
    server: MetricsServer,
) -> None:
    worker = WorkerMetrics(server.registry)

    def broken() -> list[QueueStats]:
        raise ConnectionError("broker down")

    worker.watch_queues(broken)
    worker.task_finished("t.add", "SUCCESS", 0.1)
    first = scrape(server)
    assert value(first, "worker_queue_stats_errors_total") == 1
    assert not any(name == "worker_queue_depth" for name, _ in first)
    assert value(first, "worker_tasks_total", task="t.add", state="SUCCESS") == 1
    assert value(scrape(server), "worker_queue_stats_errors_total") == 2


def _fill(url: str, queue: str) -> None:
    broker = open_broker(url)
    try:
        for i in range(3):
            broker.enqueue_once(Message(id=f"{queue}-{i}", task="t.add", queue=queue))
        later = datetime.now(UTC) + timedelta(hours=1)
        broker.enqueue_once(Message(id=f"{queue}-later", task="t.add", queue=queue, eta=later))
    finally:
        broker.close()


def test_queue_depths_from_a_real_sqlite_broker(server: MetricsServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    _fill(url, "reports")
    WorkerMetrics(server.registry).watch_queues(broker_stats(url))
    s = scrape(server)  # read on the server's thread, through its own connection
    assert value(s, "worker_queue_depth", queue="reports", kind="ready") == 3
    assert value(s, "worker_queue_depth", queue="reports", kind="delayed") == 1
    assert value(s, "worker_queue_stats_errors_total") == 0


def test_queue_depths_from_a_real_redis_broker(server: MetricsServer, redis_url: str) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    _fill(redis_url, queue)
    WorkerMetrics(server.registry).watch_queues(broker_stats(redis_url))
    s = scrape(server)
    assert value(s, "worker_queue_depth", queue=queue, kind="ready") == 3
    assert value(s, "worker_queue_depth", queue=queue, kind="delayed") == 1


def test_unreachable_broker_is_an_error_count(server: MetricsServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'queue.db'}"
    WorkerMetrics(server.registry).watch_queues(broker_stats(url))
    assert value(scrape(server), "worker_queue_stats_errors_total") == 1


def test_each_service_has_its_own_registry() -> None:
    from prometheus_client import REGISTRY

    one, two = start_metrics_server(0), start_metrics_server(0)
    try:
        BeatMetrics(one.registry).fires_skipped(2)
        BeatMetrics(two.registry)  # no "Duplicated timeseries" error: separate registries
        assert value(scrape(one), "beat_fires_total", outcome="skipped") == 2
        assert value(scrape(two), "beat_fires_total", outcome="skipped") == 0
        assert REGISTRY.get_sample_value("beat_fires_total", {"outcome": "skipped"}) is None
    finally:
        one.close()
        two.close()


def test_a_taken_port_is_a_clear_error(server: MetricsServer) -> None:
    with pytest.raises(MetricsError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        start_metrics_server(server.port)
    with pytest.raises(MetricsError, match="not a TCP port"):
        start_metrics_server(70000)


def test_closed_server_stops_answering(tmp_path: Path) -> None:
    metrics = start_metrics_server(0)
    scrape(metrics)
    metrics.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(metrics.url, timeout=2)
