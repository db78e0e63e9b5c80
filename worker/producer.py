"""The process's broker and routes for calls and results: found the way the commands find
them (``configure(...)``, else ``$BEAT_CONFIG``, else ``./schedules.yaml``), the broker opened on
first use, shared by threads, reopened in a forked child (:mod:`taskqueue.client`)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskqueue.client import BrokerHandle
from taskqueue.config_keys import CONFIG_ENV, DEFAULT_CONFIG_FILE, default_broker_url
from taskqueue.routes import Route, parse_routes

if TYPE_CHECKING:
    from worker.settings import WorkerSettings


# The last file read and what it held, by (path, inode, size, mtime): the broker and the routes
# are both found on the first call, and one read serves both (an edited file is read again).
_LAST: tuple[tuple[str, int, int, int], WorkerSettings] | None = None
_LAST_LOCK = threading.Lock()


def _located() -> tuple[Path | None, WorkerSettings | None]:
    """The configuration file and its settings (None, None: no file).

    A ``$BEAT_CONFIG`` naming a missing or broken file is an error (ValueError naming it),
    never a silent fallback to another queue.
    """
    global _LAST
    from worker.settings import SettingsError, load_settings

    named = os.environ.get(CONFIG_ENV)
    path = Path(named) if named else Path(DEFAULT_CONFIG_FILE)
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        if named:
            raise ValueError(
                f"${CONFIG_ENV}={named}: no such file (the calls' broker is read there)"
            )
        return None, None
    key = (str(path.absolute()), st.st_ino, st.st_size, st.st_mtime_ns)
    with _LAST_LOCK:
        if _LAST is not None and _LAST[0] == key:
            return path, _LAST[1]
        try:
            settings = load_settings(path)
        except SettingsError as e:
            raise ValueError(f"cannot read the calls' configuration: {e}") from None
        _LAST = (key, settings)
        return path, settings


def locate_broker_url() -> str:
    """The broker named by ``$BEAT_CONFIG`` or ``./schedules.yaml``, or the default queue."""
    path, settings = _located()
    return (settings.broker if settings else None) or default_broker_url(path)


def locate_routes() -> list[Route]:
    """The ``routes:`` of ``$BEAT_CONFIG`` or ``./schedules.yaml`` (none without a file)."""
    settings = _located()[1]
    return settings.routes if settings is not None else []


class RoutesHandle:
    """The process's routes: those given to :func:`configure`, else the config file's (read
    once, on the first call that needs them)."""

    def __init__(self) -> None:
        self._routes: list[Route] | None = None
        self._lock = threading.Lock()

    def configure(self, routes: Sequence[Route] | None) -> None:
        with self._lock:
            self._routes = None if routes is None else list(routes)

    @property
    def configured(self) -> list[Route] | None:
        """The routes in use if given or already read (None: not yet known)."""
        return self._routes

    def get(self) -> list[Route]:
        routes = self._routes
        if routes is not None:
            return routes
        with self._lock:
            if self._routes is None:
                self._routes = locate_routes()
            return self._routes


PRODUCER = BrokerHandle(locate_broker_url)
ROUTES = RoutesHandle()


def configure(
    *,
    broker: str | None = None,
    routes: Mapping[str, Any] | Sequence[Route] | None = None,
) -> None:
    """Send calls to (and read results from) ``broker``, routed by ``routes`` (the mapping
    ``routes:`` holds in ``schedules.yaml``); None finds each again as above. Bad routes are a
    ValueError naming the pattern and field, and change nothing."""
    parsed = routes if routes is None or not isinstance(routes, Mapping) else parse_routes(routes)
    PRODUCER.configure(broker)
    ROUTES.configure(parsed)


def configured() -> tuple[str | None, list[Route] | None]:
    """What :func:`configure` set (the broker URL, the routes): a worker hands it to its pool
    processes so that its task code calls the worker's broker with the worker's routes."""
    return PRODUCER.configured_url, ROUTES.configured
