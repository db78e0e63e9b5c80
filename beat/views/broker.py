"""Reading a broker for the operator: queue figures, one task's status, dead letters and the
leader, from a broker URL. One implementation for ``beat queues``/``status``/``list`` and the
dashboard.

The embedded SQLite queue is read from its file with :mod:`taskqueue.sqlite_read` (read-only,
no SQLAlchemy import: a missing file reads as empty and is not created). Other brokers are read
through one connection, opened at the first read and kept until :meth:`BrokerReader.close`
(the dashboard keeps one for its lifetime; a command opens one per run).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskqueue.broker import Broker
    from taskqueue.heartbeats import WorkerSeen
    from taskqueue.records import DeadLetter, LeaseHolder, QueueStats, TaskStatus

# Who leads, as far as could be found out: the holder (None: no leader), or why it is unknown.
LeaderView = tuple["LeaseHolder | None", "str | None"]


def is_sqlite_queue(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite queue (read from its file, read-only)."""
    return url.partition("://")[0].lower() == "sqlite" and "://" in url


class BrokerReader:
    """The read side of the broker at ``url``; every method raises
    :class:`~taskqueue.errors.TaskqueueError` when the broker cannot answer (except
    :meth:`leader`, which says why instead)."""

    def __init__(self, url: str, *, socket_timeout: timedelta | None = None) -> None:
        self.url = url
        self._socket_timeout = socket_timeout
        self._sqlite = is_sqlite_queue(url)
        self._broker: Broker | None = None

    def open(self) -> None:
        """Connect and ping now (a command fails early on an unreachable broker)."""
        if not self._sqlite:
            self._connection().ping()

    def _connection(self) -> Broker:
        if self._broker is None:
            # Imported here: three dataclasses (~2 ms) that reading the SQLite queue never needs.
            from taskqueue.redis_url import is_redis_url

            redis = is_redis_url(self.url)
            if self._socket_timeout is not None and redis:
                from taskqueue.redis import RedisBroker

                self._broker = RedisBroker(self.url, socket_timeout=self._socket_timeout)
            else:
                from taskqueue.urls import open_broker

                self._broker = open_broker(self.url)
        return self._broker

    def queue_stats(self) -> list[QueueStats]:
        if self._sqlite:
            from taskqueue.sqlite_read import queue_stats

            return queue_stats(self.url)
        return self._connection().queue_stats()

    def task_status(self, task_id: str) -> TaskStatus | None:
        if self._sqlite:
            from taskqueue.sqlite_read import task_status

            return task_status(self.url, task_id)
        return self._connection().get_status(task_id)

    def task_statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """:meth:`task_status` of many ids (the SQLite file read once): the known ones."""
        if self._sqlite:
            from taskqueue.sqlite_read import task_statuses

            return task_statuses(self.url, task_ids)
        statuses = self._connection().get_statuses(list(dict.fromkeys(task_ids)))
        return {task_id: status for task_id, status in statuses.items() if status is not None}

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The newest ``limit`` dead letters of ``queue`` (none for a queue file not yet made)."""
        if self._sqlite:
            from taskqueue.sqlite_file import sqlite_path

            if not sqlite_path(self.url).exists():
                return []  # looking never creates the queue file
        return self._connection().dead_letters(queue, limit)

    def workers(self) -> list[WorkerSeen]:
        """Every worker's heartbeat record, live ones first (:func:`beat.ops.workers.list_workers`;
        none for a SQLite queue file not yet made: looking never creates it)."""
        from beat.ops.workers import list_workers

        if self._sqlite:
            from taskqueue.sqlite_file import sqlite_path

            if not sqlite_path(self.url).exists():
                return []
        return list_workers(self._connection())

    def leader(self) -> LeaderView:
        """Who holds the beat leader lease; never raises: a broker that cannot answer is
        reported as the problem (a missing SQLite queue file has no leader, and is not
        created by looking)."""
        from beat.lease_name import DEFAULT_LEASE_NAME
        from taskqueue.errors import TaskqueueError
        from taskqueue.redact import redact_url

        try:
            if self._sqlite:
                from taskqueue.sqlite_read import lease_holder

                return lease_holder(self.url, DEFAULT_LEASE_NAME), None
            return self._connection().lease_holder(DEFAULT_LEASE_NAME), None
        except TaskqueueError as e:
            return None, f"broker {redact_url(self.url)}: {e}"

    def close(self) -> None:
        if self._broker is not None:
            self._broker.close()
            self._broker = None


def read_leader(url: str) -> LeaderView:
    """Who leads at ``url``, for a command: a short socket timeout, the connection closed."""
    reader = BrokerReader(url, socket_timeout=timedelta(seconds=1))
    try:
        return reader.leader()
    finally:
        reader.close()
