"""A beat whose entries come from ``schedules.yaml`` plus a SQL source (``source: URL``).

:class:`SqlBeatService` is :class:`~beat.service.BeatService` with the database polled on
each loop turn (at most once a second, so a commit takes effect within two seconds) and the
changes applied incrementally: only changed entries are re-planned, unchanged entries keep
their state and next fire, whatever the table size. A schedules.yaml reload re-merges the YAML
entries with the database entries held in memory (no database read).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from beat.config import Config
from beat.entries import Entry
from beat.errors import Problem
from beat.service import BeatService
from beat.sql_poller import CLASH_MESSAGE, POLL_INTERVAL, Delta, SourcePoller
from beat.sql_source import SqlSource

log = logging.getLogger(__name__)


def uses_sql_source(config: Config) -> bool:
    return config.source != "yaml"


def read_source(config: Config) -> tuple[dict[str, Entry], list[Problem]]:
    """One full read of the config's SQL source: every entry beat would run (the YAML ones
    plus the valid database rows; a clash keeps the YAML entry), and every problem (invalid
    rows, names also in the YAML). Raises SourceError if the database cannot be read."""
    source = SqlSource(config.source, zone=config.timezone, defaults=config.defaults)
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


def check_source(config: Config) -> list[Problem]:
    """For ``beat check``: see :func:`read_source`."""
    return read_source(config)[1]


class SqlBeatService(BeatService):
    """BeatService + a :class:`SourcePoller` on ``config.source``."""

    def __init__(
        self,
        config: Config,
        state_url: str,
        *,
        poll_interval: timedelta = POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, state_url, **kwargs)
        source = SqlSource(config.source, zone=config.timezone, defaults=config.defaults)
        self.poller = SourcePoller(source, config.entries, interval=poll_interval)
        self._source_url = config.source

    def start(self) -> None:
        # Database unusable at start-up: SourceError propagates (the CLI exits non-zero).
        self.poller.initial()
        self.poller.maybe_poll(time.monotonic())  # starts the poll timer; nothing new yet
        super().start()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.poller.source.close()

    def maybe_reload(self) -> None:
        delta = self.poller.maybe_poll(time.monotonic())
        if delta:
            self.apply_delta(delta, self.clock())
        super().maybe_reload()

    def apply_config(self, config: Config, now: datetime) -> None:
        """``config`` holds the YAML entries only (start-up or a schedules.yaml reload)."""
        if config.source != self._source_url:
            log.warning("config: a 'source:' change takes effect at the next restart")
        merged = self.poller.replace_yaml(config.entries)
        super().apply_config(replace(config, entries=merged), now)

    def apply_delta(self, delta: Delta, now: datetime) -> None:
        """Apply what the database poll found, touching only the named entries."""
        self.apply_entries(delta.changed, list(delta.removed), now)
        # self.entries is the live merged view; Config is frozen, so swap in a new one.
        self.config = replace(self.config, entries=self.entries)
