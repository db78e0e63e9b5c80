"""One broker connection per process for application code (``delay``, ``TaskResult``).

Opened lazily on first use, shared by threads (a lock around the open), and never carried across
``fork()``: the handle remembers the pid that opened it, and a child (a Gunicorn or Django
worker forked after the parent called ``.delay()``) opens its own instead of using the
parent's sockets or SQLite handles. The inherited one is dropped, not closed: it is still the
parent's.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

from taskqueue.broker import Broker
from taskqueue.urls import open_broker

__all__ = ["BrokerHandle"]


class BrokerHandle:
    """The process's broker, found by ``locate`` (a URL) unless :meth:`configure` names one."""

    def __init__(self, locate: Callable[[], str]) -> None:
        self._locate = locate
        self._url: str | None = None
        self._broker: Broker | None = None
        self._pid = 0
        self._lock = threading.Lock()
        # A thread of the parent may hold the lock at the fork: the child gets a fresh one.
        # Held weakly, so a handle that is dropped is not kept alive by the hook.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _new_lock(ref))

    def configure(self, broker: str | None) -> None:
        """Use the broker at ``broker`` from now on (None: locate it again); closes the
        connection this process opened, if any."""
        with self._lock:
            self._url = broker
            old, self._broker = self._broker, None
            if old is not None and self._pid == os.getpid():
                old.close()

    @property
    def configured_url(self) -> str | None:
        """The URL given to :meth:`configure` (None: located)."""
        return self._url

    def get(self) -> Broker:
        """The open broker of this process (opened now if this process has none)."""
        broker, pid = self._broker, self._pid
        if broker is not None and pid == os.getpid():
            return broker
        with self._lock:
            if self._broker is None or self._pid != os.getpid():
                # In a forked child the parent's broker is dropped unclosed (see the module doc).
                self._broker = open_broker(self._url or self._locate())
                self._pid = os.getpid()
            return self._broker

    def close(self) -> None:
        """Close this process's connection (the next :meth:`get` opens a new one)."""
        self.configure(self._url)


def _new_lock(ref: weakref.ref[BrokerHandle]) -> None:
    handle = ref()
    if handle is not None:
        handle._lock = threading.Lock()
