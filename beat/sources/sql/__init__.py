"""The schedules.yaml entries plus the rows of a SQL table (``source: URL``).

The database is read whole at start-up and then polled on each loop turn (at most once per
poll interval, so a commit takes effect within two of them); a poll returns only the changed
rows, so the service re-plans only those entries, whatever the table size. A schedules.yaml
reload re-merges the YAML entries with the database entries the beat runs (no database read,
and no copy of the rows kept beside the running entries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import timedelta

from beat.config.model import Config
from beat.entries import Entry
from beat.errors import Problem
from beat.sources.delta import POLL_INTERVAL, Delta
from beat.sources.sql.poller import CLASH_MESSAGE, SourcePoller
from beat.sources.sql.table import SqlSource

log = logging.getLogger(__name__)


def uses_sql_source(config: Config) -> bool:
    return config.source != "yaml"


def read_source(config: Config) -> tuple[dict[str, Entry], list[Problem]]:
    """One full read of the config's SQL source: every entry beat would run (the YAML ones
    plus the valid database rows; a clash keeps the YAML entry), and every problem (invalid
    rows, names also in the YAML). Raises SourceError if the database cannot be read."""
    source = SqlSource(
        config.source, zone=config.timezone, defaults=config.defaults, routes=config.routes
    )
    try:
        snapshot = source.load_all()
    finally:
        source.close()
    clashes = [
        Problem(source.name, None, f"entries.{name}", CLASH_MESSAGE)
        for name in snapshot.entries
        if name in config.entries
    ]
    return {**snapshot.entries, **config.entries}, snapshot.problems + clashes


def merged_entries(config: Config) -> dict[str, Entry]:
    """For ``beat list``/``next``/``trigger``: see :func:`read_source`."""
    if not uses_sql_source(config):
        return dict(config.entries)
    return read_source(config)[0]


class SqlEntrySource:
    """An :class:`~beat.sources.EntrySource` over a :class:`SourcePoller`."""

    def __init__(self, config: Config, *, poll_interval: timedelta = POLL_INTERVAL) -> None:
        source = SqlSource(
            config.source, zone=config.timezone, defaults=config.defaults, routes=config.routes
        )
        self.poller = SourcePoller(source, config.entries, interval=poll_interval)
        self._url = config.source
        self._started = False

    def entries(self, config: Config, running: Mapping[str, Entry]) -> dict[str, Entry]:
        if config.source != self._url:
            log.warning("config: a 'source:' change takes effect at the next restart")
        if not self._started:
            # Database unusable at start-up: SourceError propagates (the CLI exits non-zero).
            self.poller.yaml = dict(config.entries)
            merged = self.poller.initial()
            self.poller.maybe_poll(time.monotonic())  # starts the poll timer; nothing new yet
            self._started = True
            return merged
        return self.poller.replace_yaml(config.entries, running)

    def poll(self, monotonic_s: float) -> Delta | None:
        return self.poller.maybe_poll(monotonic_s)

    def close(self) -> None:
        self.poller.source.close()
