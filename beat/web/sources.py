"""Where the dashboard's data comes from, each kept while unchanged: the configuration (and
the SQL source's entries), the run state (states and pauses), the run state's store (the fire
log) and the broker reader. :class:`beat.web.dashboard.Dashboard` builds the pages and
actions on these."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beat.config.model import Config
from beat.entries import Entry
from beat.state import EntryState, Pause, StateStore
from beat.views.broker import BrokerReader
from beat.views.states import read_pauses, read_states

if TYPE_CHECKING:
    from taskqueue.broker import Broker

# The SQL source and the run state are re-read at most this often (a page polls every 3 s).
REFRESH_SECONDS = 1.0


def freeze() -> None:
    """Move every object alive now out of the cyclic collector's reach (:func:`gc.freeze`):
    the configuration (10,000 entries) and the caches live as long as the process or until
    the file changes, and a full collection walking them stalled a request by ~50-200 ms now
    and then (issue 16). Collected first, so no garbage is kept."""
    gc.collect()
    gc.freeze()


class NotFound(LookupError):
    """No such entry or task: the API answers 404."""


def redact(value: Any) -> Any:
    from beat.cli.render import redact as redact_value

    return redact_value(value)


@dataclass
class _Loaded:
    config: Config
    problems: list[str]
    stamp: tuple[int, int]
    at: float


class Sources:
    """One ``schedules.yaml``, run state and broker, read for the dashboard."""

    def __init__(self, config_path: Path, state: str, broker_url: str | None = None) -> None:
        self.config_path = config_path
        self.state_location = state
        self._broker_override = broker_url
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        # "states" and "pauses" of the run state: (when, its files' stamp, what was read)
        self._read: dict[str, tuple[float, tuple[int, ...] | None, dict[str, Any]]] = {}
        self._reader: BrokerReader | None = None
        self._store: StateStore | None = None  # the run state, opened at the first use

    def config(self) -> Config:
        """The configuration with its valid entries (and the SQL source's), re-read when the
        file changes (and the SQL source at most every REFRESH_SECONDS)."""
        stat = os.stat(self.config_path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            loaded = self._loaded
            fresh = loaded is not None and loaded.stamp == stamp
            if (
                fresh
                and loaded is not None
                and (
                    loaded.config.source == "yaml" or time.monotonic() - loaded.at < REFRESH_SECONDS
                )
            ):
                return loaded.config
            self._loaded = loaded = self._load(stamp)
        if not fresh:
            freeze()  # the new configuration is kept until the file changes
        return loaded.config

    def _load(self, stamp: tuple[int, int]) -> _Loaded:
        from dataclasses import replace

        from beat.config.partial import load_valid_entries

        config, problems = load_valid_entries(self.config_path)
        if config.source != "yaml":
            from beat.sources.sql import merged_entries

            config = replace(config, entries=merged_entries(config))
        return _Loaded(config, [redact(str(p)) for p in problems], stamp, time.monotonic())

    def problems(self) -> list[str]:
        self.config()
        return list(self._loaded.problems) if self._loaded else []

    def forget_config(self) -> None:
        with self._lock:
            self._loaded = None

    @property
    def broker_url(self) -> str:
        return self._broker_override or self.config().broker_url

    @contextmanager
    def broker(self) -> Iterator[Broker]:
        """A broker of its own for one action (the reader's is shared by the page reads),
        closed when the action is done."""
        from taskqueue.urls import open_broker

        broker = open_broker(self.broker_url)
        try:
            yield broker
        finally:
            broker.close()

    def reader(self) -> BrokerReader:
        with self._lock:
            if self._reader is None:
                self._reader = BrokerReader(self.broker_url, socket_timeout=timedelta(seconds=2))
            return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._store is not None:
            self._store.close()

    def state_store(self, create: bool) -> StateStore | None:
        """The run state's store, kept open (opening one costs ~20 ms); None when it does not
        exist and ``create`` is false (looking never creates it)."""
        from beat.state_read import sqlite_state_file

        with self._lock:
            if self._store is None:
                path = sqlite_state_file(self.state_location)
                if path is not None and not path.exists() and not create:
                    return None
                self._store = StateStore(self.state_location)
            return self._store

    def states(self) -> dict[str, EntryState]:
        """The run state: a SQLite file is re-read when it changed (its or its WAL's size or
        time), another store at most every REFRESH_SECONDS. The same dict object while
        unchanged, so what is computed from it can be reused."""
        states: dict[str, EntryState] = self._run_state("states", read_states)
        return states

    def pauses(self) -> dict[str, Pause]:
        """The pauses kept in the run state (``beat pause``), re-read like :meth:`states`."""
        pauses: dict[str, Pause] = self._run_state("pauses", read_pauses)
        return pauses

    def _run_state(self, part: str, read: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """One part of the run state (``read`` from its location), cached as :meth:`states`
        says."""
        stamp = self._state_stamp()
        with self._lock:
            cached = self._read.get(part)
            if cached is not None:
                at, old_stamp, value = cached
                if stamp is not None and stamp == old_stamp:
                    return value
                if stamp is None and time.monotonic() - at < REFRESH_SECONDS:
                    return value
        value = read(self.state_location)
        with self._lock:
            self._read[part] = (time.monotonic(), stamp, value)
        return value

    def _state_stamp(self) -> tuple[int, ...] | None:
        from beat.state_read import sqlite_state_file

        path = sqlite_state_file(self.state_location)
        if path is None:
            return None
        stamp: list[int] = []
        for file in (path, path.with_name(path.name + "-wal")):
            try:
                st = file.stat()
            except FileNotFoundError:
                stamp += [0, 0, 0]
                continue
            # An empty WAL is no WAL: a reader's first open creates one (the last writer to
            # close removed it), which must not look like a change and make it read again.
            stamp += [st.st_mtime_ns, st.st_size, st.st_ino] if st.st_size else [0, 0, 0]
        return tuple(stamp)

    def entry(self, name: str) -> Entry:
        entry = self.config().entries.get(name)
        if entry is None:
            raise NotFound(f"no entry named {name!r}")
        return entry
