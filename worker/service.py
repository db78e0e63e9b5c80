"""Wires a worker together: broker connections, pool, consumer, signals, embedded beat."""

from __future__ import annotations

import gc
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from daemonkit import systemd
from daemonkit.signals import install_stop_and_hup
from taskqueue.records import DEFAULT_RESULT_TTL
from taskqueue.urls import open_broker, redact_url
from worker import commands, producer
from worker.consumer import (
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_LEASE,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_SHUTDOWN_TIMEOUT,
    Consumer,
)
from worker.consumer.presence import WorkerIdentity
from worker.pools import make_pool
from worker.registry import REGISTRY
from worker.routing_check import warn_unrouted

if TYPE_CHECKING:
    from daemonkit.metrics import MetricsServer
    from taskqueue.records import QueueStats
    from taskqueue.routes import Route

logger = logging.getLogger(__name__)

BUILTIN_MODULES = ("worker.builtin",)
# The shortest heartbeat interval, however short the lease.
_MIN_HEARTBEAT_INTERVAL = timedelta(seconds=1)
# An embedded beat that keeps dying is restarted at most this often.
_BEAT_RESTART_DELAY_S = 2.0


def default_worker_name() -> str:
    return f"worker@{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class WorkerConfig:
    """Everything a worker run needs, resolved from options and the configuration file."""

    broker_url: str
    queues: list[str] = field(default_factory=lambda: ["default"])
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    pool: str = "prefork"
    modules: list[str] = field(default_factory=list)
    name: str = field(default_factory=default_worker_name)
    lease: timedelta = DEFAULT_LEASE
    shutdown_timeout: timedelta = DEFAULT_SHUTDOWN_TIMEOUT
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    embedded_beat_state: str | None = None  # -B -s PATH
    config_path: Path | None = None
    metrics_port: int | None = None
    commands: tuple[str, ...] = ()  # programs the command task may run (absolute paths)
    command_env: tuple[str, ...] = ()  # environment variables a command message may set
    routes: list[Route] = field(default_factory=list)  # the configuration's `routes:`
    result_expires: timedelta = DEFAULT_RESULT_TTL  # how long final statuses are kept


class EmbeddedBeat(threading.Thread):
    """Runs ``python -m beat`` as a supervised child (the worker must not import beat)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        self.argv = argv
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                logger.info("starting embedded beat: %s", " ".join(self.argv))
                # Without NOTIFY_SOCKET: only the worker itself talks to systemd.
                self._proc = subprocess.Popen(self.argv, env=systemd.child_environ())
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            if code == 0:
                # A clean exit means someone asked it to stop (Ctrl-C reaches the whole
                # process group, the worker included): not a crash, nothing to restart.
                logger.info("embedded beat stopped")
                return
            logger.error("embedded beat exited with status %d; restarting", code)
            self._stopping.wait(_BEAT_RESTART_DELAY_S)

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def embedded_beat_argv(config: WorkerConfig) -> list[str]:
    argv = [sys.executable, "-m", "beat", "-s", str(config.embedded_beat_state)]
    if config.config_path is not None:
        argv += ["--config", str(config.config_path)]
    return [*argv, "--broker", config.broker_url]


def run_worker(config: WorkerConfig) -> None:
    """Run until SIGTERM/SIGINT (twice to hurry); SIGHUP recycles the pool.

    Raises :class:`taskqueue.errors.BrokerUnavailable` when the broker cannot be reached.
    """
    modules = [*BUILTIN_MODULES, *(m for m in config.modules if m not in BUILTIN_MODULES)]
    REGISTRY.import_modules(modules)
    # Before the pool: the callbacks this worker sends and the calls its task code makes go
    # to its broker, routed by its routes (prefork children take them at start-up).
    producer.configure(broker=config.broker_url, routes=config.routes)
    warn_unrouted(REGISTRY.tasks(), config.routes)
    # Before the pool: prefork children take the policy with their start-up state.
    commands.allow(config.commands, config.command_env)
    broker = open_broker(config.broker_url)
    renewal_broker = open_broker(config.broker_url)
    beat: EmbeddedBeat | None = None
    metrics_server: MetricsServer | None = None
    try:
        broker.ping()
        pool = make_pool(
            config.pool,
            config.concurrency,
            modules=modules,
            max_tasks_per_child=config.max_tasks_per_child,
            max_memory_per_child=config.max_memory_per_child,
        )
        metrics = None
        if config.metrics_port is not None:
            from daemonkit.metrics import WorkerMetrics, new_registry, start_metrics_server

            registry = new_registry()
            metrics = WorkerMetrics(registry)
            metrics.watch_queues(broker_stats(config.broker_url))
            metrics_server = start_metrics_server(config.metrics_port, registry=registry)
        watchdog = systemd.Watchdog()
        consumer = Consumer(
            broker,
            pool,
            queues=config.queues,
            name=config.name,
            lease=config.lease,
            shutdown_timeout=config.shutdown_timeout,
            renewal_broker=renewal_broker,
            metrics=metrics,
            max_deliveries=config.max_deliveries,
            identity=WorkerIdentity(pool=config.pool, concurrency=config.concurrency),
            # A short lease asks for quick failure detection: heartbeats follow it, down to
            # one a second (each is a broker write, two on SQLite).
            heartbeat_interval=min(
                DEFAULT_HEARTBEAT_INTERVAL, max(config.lease / 3, _MIN_HEARTBEAT_INTERVAL)
            ),
            result_expires=config.result_expires,
            # The watchdog is pinged from the consumer loop only: a wedged loop stops pinging.
            on_loop=watchdog.healthy,
        )
        install_signal_handlers(consumer)
        pool.start()
        logger.info(
            "worker %s ready: broker %s, queues %s, %s pool x%d",
            config.name,
            redact_url(config.broker_url),
            ",".join(config.queues),
            config.pool,
            config.concurrency,
        )
        logger.info(
            "command task: %s",
            f"may run {', '.join(config.commands)}"
            if config.commands
            else "refuses every program (worker.commands is empty)",
        )
        if config.embedded_beat_state is not None:
            beat = EmbeddedBeat(embedded_beat_argv(config))
            beat.start()
        systemd.ready(f"consuming {','.join(config.queues)}")
        # Start-up objects (modules, config) live as long as the process: out of the
        # collector's sight, so a full collection mid-loop does not walk them all (a pause of
        # milliseconds in a task's round trip).
        gc.freeze()
        consumer.run()
        systemd.stopping()
        logger.info("worker %s stopped: %s", config.name, consumer.stats)
    finally:
        if beat is not None:
            beat.stop()
        if metrics_server is not None:
            metrics_server.close()
        broker.close()
        renewal_broker.close()
    if consumer.restart_requested:
        # Abandoned threads cannot be killed: replace the whole process (same pid, so
        # systemd keeps tracking it) now that every message is settled or released.
        logger.warning("worker %s: re-executing itself", config.name)
        os.execv(sys.executable, [sys.executable, "-m", "worker", *sys.argv[1:]])


def broker_stats(url: str) -> Callable[[], list[QueueStats]]:
    """Queue statistics for the metrics endpoint, over a connection of its own for each read.

    The service's broker must not be used from scrape threads (the SQLite broker's connection
    is bound to its thread; a Redis pipeline in use must not be interleaved). One short-lived
    connection per scrape (every 15-60 s) costs a few milliseconds.
    """

    def read() -> list[QueueStats]:
        broker = open_broker(url)
        try:
            return broker.queue_stats()
        finally:
            broker.close()

    return read


def install_signal_handlers(consumer: Consumer) -> None:
    """Handlers only set flags; the consumer loop acts on them."""
    install_stop_and_hup(lambda _signum: consumer.request_stop(), consumer.request_recycle)
