"""``beat`` without a command: the scheduler daemon, run from the group's options.

The only place the CLI configures logging. Imported by :mod:`beat.cli.group` at load, so it
imports the daemon itself (SQLAlchemy, redis-py) only when the daemon runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from beat.cli.errors import RuntimeProblem
from beat.cli.loading import load
from beat.cli.options import duration

if TYPE_CHECKING:
    from beat.config.model import ReadyHook


def run(
    *,
    state: str,
    config_path: Path,
    broker_url: str | None,
    loglevel: str,
    log_format: str | None,
    lookahead: str | None,
    source_url: str | None,
    metrics_port: int | None,
    lease_ttl: str | None,
) -> None:
    """Run the daemon until it is stopped; a broker that fails it exits 1."""
    from beat.config.startup_cache import cache_file_for
    from daemonkit.logs import configure_logging

    # An unchanged config file is not parsed again (issue 17); beside a SQLite state only.
    # A cold start writes that cache once the beat is ready, not on the way (a beat stopped
    # before then just has none).
    later: list[ReadyHook] = []
    config = load(config_path, cache_file_for(state), later)
    if source_url is not None:
        from dataclasses import replace

        config = replace(config, source=source_url)
    configure_logging(loglevel.upper(), log_format or config.log_format)  # type: ignore[arg-type]
    from beat.daemon import run_daemon
    from taskqueue.errors import BrokerError

    try:
        run_daemon(
            config,
            state,
            broker_url,
            lookahead=None if lookahead is None else duration(lookahead, "--lookahead", zero=True),
            metrics_port=metrics_port,
            lease_ttl=None if lease_ttl is None else duration(lease_ttl, "--lease-ttl"),
            when_ready=later,
        )
    except BrokerError as e:
        raise RuntimeProblem(str(e)) from e
