"""Running a beat as a process: the daemon's settings from the config and the command line,
the optional metrics endpoint, signal handlers, and the service's loop until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from beat.config import Config
from beat.leader import DEFAULT_LEASE_TTL
from beat.service import BeatService
from beat.service_wiring import DEFAULT_LOOKAHEAD

if TYPE_CHECKING:
    from beat.config.model import ReadyHook
    from daemonkit.metrics import BeatMetrics

# The loop's own lines: logged under the service's name, as they were before this module.
log = logging.getLogger("beat.service")


def run_daemon(
    config: Config,
    state_url: str,
    broker_url: str | None,
    *,
    lookahead: timedelta | None = None,
    metrics_port: int | None = None,
    lease_ttl: timedelta | None = None,
    when_ready: Sequence[ReadyHook] = (),
) -> None:
    """Run a beat with ``config`` until SIGTERM/SIGINT (the CLI's entry point); each of
    ``when_ready`` is called once, when it is ready."""
    if lookahead is None:
        configured = config.beat.get("lookahead")
        lookahead = configured if isinstance(configured, timedelta) else DEFAULT_LOOKAHEAD
    if lease_ttl is None:
        configured = config.beat.get("leader_lease")
        lease_ttl = configured if isinstance(configured, timedelta) else DEFAULT_LEASE_TTL
    port = metrics_port if metrics_port is not None else config.metrics_port
    metrics: BeatMetrics | None = None
    server = None
    if port is not None:
        from daemonkit.metrics import BeatMetrics, new_registry, start_metrics_server

        registry = new_registry()
        metrics = BeatMetrics(registry)
        server = start_metrics_server(port, registry=registry)
    service = BeatService(
        config,
        state_url,
        broker_url=broker_url,
        lookahead=lookahead,
        metrics=metrics,
        lease_ttl=lease_ttl,
    )
    service.install_signal_handlers()
    log.info("beat pid %d", os.getpid())
    started = time.monotonic()
    try:
        service.run(when_ready)
    finally:
        if server is not None:
            server.close()
    log.debug("beat ran for %.1f s", time.monotonic() - started)
