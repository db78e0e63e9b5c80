"""Prometheus metrics for the beat daemon and the worker, served on an optional HTTP port.

Everything lives in our own :class:`~prometheus_client.CollectorRegistry` (never the library's
global one), so two services in one process (tests, ``worker -B``) cannot collide.

``prometheus_client`` costs ~70 ms to import, so it is imported only when metrics are turned on:
this module imports it inside functions, and a daemon without a metrics port holds no metrics
object at all (``None``).

Label cardinality: fires carry no ``entry`` label (100,000 entries would mean 100,000 series);
per-entry detail is in the logs. Task names are labels as messages name them; past
``MAX_TASK_LABELS`` distinct names the rest are counted as ``OTHER_TASKS``.

Beat::

    beat_fires_total{outcome="sent|duplicate|skipped|failed"}  counter
    beat_fire_lateness_seconds                                 histogram, 1 ms .. 60 s
    beat_entries{state="enabled|disabled"}                     gauge
    beat_leader                                                gauge, 1 while holding the lease
    beat_dispatch_errors_total                                 counter

Worker::

    worker_tasks_total{task,state}                       counter (state: SUCCESS, FAILURE, ...)
    worker_task_runtime_seconds{task}                    histogram
    worker_time_limit_kills_total{task,kind="soft|hard"} counter
    worker_queue_depth{queue,kind="ready|delayed|in_flight|dead|expired_lease"} gauge, per scrape
    worker_queue_stats_errors_total                      counter, failed reads of the above
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from daemonkit import DaemonKitError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric


log = logging.getLogger(__name__)

# Lateness of a fire (enqueue instant - scheduled instant): the target is p99 < 100 ms, so the
# buckets are fine below 100 ms and coarse up to a minute (later than that is an outage).
LATENESS_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# Task run time: from no-op tasks (ms) to long batch jobs (an hour).
RUNTIME_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
FIRE_OUTCOMES = ("sent", "duplicate", "skipped")
QUEUE_DEPTH_KINDS = ("ready", "delayed", "in_flight", "dead", "expired_lease")
LIMIT_KINDS = ("soft", "hard")
# Distinct task labels one worker exports; later names are folded into OTHER_TASKS. A real
# registry is far smaller: this only stops a stream of made-up names from growing memory and
# every scrape without bound.
MAX_TASK_LABELS = 500
OTHER_TASKS = "<other>"


class MetricsError(DaemonKitError, OSError):
    """The metrics HTTP server could not start (e.g. the port is taken)."""


def new_registry() -> CollectorRegistry:
    """A fresh registry with the process collector (CPU seconds, resident memory, open fds)."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """A running ``/metrics`` endpoint (a daemon thread); :meth:`close` stops it."""

    def __init__(
        self, registry: CollectorRegistry, server: WSGIServer, thread: threading.Thread
    ) -> None:
        self.registry = registry
        self._server = server
        self._thread = thread
        host = server.server_address[0]
        self.addr = host.decode() if isinstance(host, bytes | bytearray) else host
        self.port: int = server.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve ``registry`` (default: a new one) at ``http://addr:port/metrics``; port 0 picks one.

    Binds to loopback by default: metrics reveal queue and task names. Raises
    :class:`MetricsError` naming the address if it cannot listen.
    """
    from prometheus_client import start_http_server

    if not 0 <= port <= 65535:
        raise MetricsError(f"metrics port: {port} is not a TCP port (0-65535)")
    registry = new_registry() if registry is None else registry
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as e:
        raise MetricsError(f"metrics: cannot listen on {addr}:{port}: {e.strerror or e}") from e
    metrics = MetricsServer(registry, server, thread)
    log.info("metrics at %s", metrics.url)
    return metrics


class _BatchHistogram:
    """An unlabelled histogram that takes a whole batch under one lock.

    ``prometheus_client.Histogram.observe`` costs ~1.7 us; a burst of 100,000 fires must be
    enqueued within a second, so the beat's histogram bins a batch with ``bisect`` instead.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = list(buckets)
        self._counts = [0] * (len(self.bounds) + 1)  # the last slot is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        bounds, find = self.bounds, bisect.bisect_left
        with self._lock:
            counts = self._counts
            for value in values:
                counts[find(bounds, value)] += 1
                self._sum += value

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import HistogramMetricFamily

        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*self.bounds, float("inf")], counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return [
            HistogramMetricFamily(
                self.name, self.documentation, buckets=cumulative, sum_value=total
            )
        ]


class BeatMetrics:
    """The beat daemon's metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge

        self._fires = Counter("beat_fires", "Fires by outcome.", ["outcome"], registry=registry)
        for outcome in FIRE_OUTCOMES:
            self._fires.labels(outcome)  # export 0 before the first fire, so rate() works
        self._lateness = _BatchHistogram(
            "beat_fire_lateness_seconds",
            "Enqueue instant minus scheduled instant of each sent fire (early = 0).",
            LATENESS_BUCKETS_S,
        )
        registry.register(self._lateness)
        self._entries = Gauge("beat_entries", "Configured entries.", ["state"], registry=registry)
        self._leader = Gauge(
            "beat_leader", "1 while this beat holds the leader lease.", registry=registry
        )
        self._errors = Counter(
            "beat_dispatch_errors", "Dispatch attempts that failed (retried).", registry=registry
        )

    def fires_sent(self, lateness_s: Sequence[float]) -> None:
        """A batch of fires enqueued; each value is its lateness (negative when early)."""
        if not lateness_s:
            return
        self._fires.labels("sent").inc(len(lateness_s))
        # Fires sent ahead of their instant (--lookahead) are on time, not "negative late".
        self._lateness.observe_many(max(0.0, v) for v in lateness_s)

    def fire_duplicate(self, n: int = 1) -> None:
        """Fires the broker refused because their id was already enqueued."""
        if n:
            self._fires.labels("duplicate").inc(n)

    def fires_skipped(self, n: int) -> None:
        """Missed fires dropped by ``catch_up``/``grace``."""
        if n:
            self._fires.labels("skipped").inc(n)

    def fire_failed(self, n: int) -> None:
        """Fires whose message could not be built or encoded (logged, not sent)."""
        if n:
            self._fires.labels("failed").inc(n)

    def set_entries(self, enabled: int, disabled: int) -> None:
        self._entries.labels("enabled").set(enabled)
        self._entries.labels("disabled").set(disabled)

    def set_leader(self, leader: bool) -> None:
        self._leader.set(1 if leader else 0)

    def dispatch_error(self) -> None:
        self._errors.inc()


class QueueStats(Protocol):
    """One queue's depths, as a broker reports them (``QUEUE_DEPTH_KINDS`` are read by
    attribute)."""

    @property
    def name(self) -> str: ...
    @property
    def ready(self) -> int: ...
    @property
    def delayed(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def dead(self) -> int: ...


QueueStatsSource = Callable[[], "Sequence[QueueStats]"]


class _QueueDepthCollector:
    """Reads queue depths on each scrape; a failed read is counted and logged, never raised.

    Scrapes run on the HTTP server's threads (one per request), so reads are serialised here
    and the source must not share a thread-bound connection with the service (the worker's
    source, ``worker.service.broker_stats``, opens a broker of its own for each read).
    """

    def __init__(self, source: QueueStatsSource) -> None:
        self.source = source
        self.errors = 0
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        # Declared without reading the broker: registration must not call the source.
        return self._families([])

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                stats: Sequence[QueueStats] = list(self.source())
            except Exception as e:  # a scrape must answer even while the broker is down
                self.errors += 1
                log.warning("metrics: reading queue depths failed: %s", e)
                stats = []
            return self._families(stats)

    def _families(self, stats: Sequence[QueueStats]) -> list[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        depth = GaugeMetricFamily(
            "worker_queue_depth", "Messages per queue and kind.", labels=["queue", "kind"]
        )
        for s in stats:
            for kind in QUEUE_DEPTH_KINDS:
                depth.add_metric([s.name, kind], getattr(s, kind))
        errors = CounterMetricFamily(
            "worker_queue_stats_errors", "Scrapes whose queue depth read failed.", value=self.errors
        )
        return [depth, errors]


class WorkerMetrics:
    """The worker's metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self._registry = registry
        self._tasks = Counter(
            "worker_tasks", "Task outcomes by task and state.", ["task", "state"], registry=registry
        )
        self._runtime = Histogram(
            "worker_task_runtime_seconds",
            "Run time of tasks that ran, by task.",
            ["task"],
            buckets=RUNTIME_BUCKETS_S,
            registry=registry,
        )
        self._kills = Counter(
            "worker_time_limit_kills",
            "Tasks stopped by a time limit (soft: exception raised; hard: process killed).",
            ["task", "kind"],
            registry=registry,
        )
        self._queues: _QueueDepthCollector | None = None
        self._task_labels: set[str] = set()
        self._label_lock = threading.Lock()

    def _task_label(self, task: str) -> str:
        if task in self._task_labels:
            return task
        with self._label_lock:
            if len(self._task_labels) < MAX_TASK_LABELS:
                self._task_labels.add(task)
                return task
        if task != OTHER_TASKS:
            log.debug(
                "metrics: %d task labels in use; counting %r as %s",
                MAX_TASK_LABELS,
                task,
                OTHER_TASKS,
            )
        return OTHER_TASKS

    def task_finished(self, task: str, state: str, runtime_s: float | None = None) -> None:
        """One outcome (``SUCCESS``, ``FAILURE``, ``RETRY``, ``EXPIRED``, ``DEAD``, ...).

        ``runtime_s`` is None for a message that never ran (expired, dead-lettered).
        """
        label = self._task_label(task)
        self._tasks.labels(label, state).inc()
        if runtime_s is not None:
            self._runtime.labels(label).observe(runtime_s)

    def time_limit_kill(self, task: str, kind: Literal["soft", "hard"]) -> None:
        if kind not in LIMIT_KINDS:
            raise ValueError(f"time limit kind: expected 'soft' or 'hard', got {kind!r}")
        self._kills.labels(self._task_label(task), kind).inc()

    def watch_queues(self, source: QueueStatsSource) -> None:
        """Export ``worker_queue_depth`` from ``source()`` on every scrape (replaces a previous
        source). ``source`` runs on a scrape thread: see :class:`_QueueDepthCollector`."""
        if self._queues is not None:
            self._registry.unregister(self._queues)
        self._queues = _QueueDepthCollector(source)
        self._registry.register(self._queues)
