"""The embedded broker: one SQLite file shared by a beat and worker processes on one host.

The default queue (``sqlite:///queue.db`` next to the config), so a single host needs no Redis.
One class per role, all on one :class:`~taskqueue.sqlite.connection.SQLiteConnection` (the
file, the clock, purging, the lease table): :mod:`~taskqueue.sqlite.enqueue` (enqueue-once),
:mod:`~taskqueue.sqlite.delivery` (claim, settle, extend, release, recover, heartbeats),
:mod:`~taskqueue.sqlite.inspection` (queue figures, dead letters),
:mod:`~taskqueue.sqlite.states` (task statuses), :mod:`~taskqueue.sqlite.leases` (leader
leases). :class:`SQLiteBroker` is all of them.
"""

from __future__ import annotations

from taskqueue.sqlite.chords import SQLiteChords
from taskqueue.sqlite.delivery import SQLiteConsumer
from taskqueue.sqlite.enqueue import SQLiteProducer
from taskqueue.sqlite.inspection import SQLiteInspection
from taskqueue.sqlite.leases import SQLiteLeases
from taskqueue.sqlite.maintenance import SQLiteMaintenance
from taskqueue.sqlite.revocations import SQLiteRevocations
from taskqueue.sqlite.states import SQLiteStates
from taskqueue.sqlite.workers import SQLiteWorkers
from taskqueue.sqlite_schema import sqlite_path

__all__ = ["SQLiteBroker", "sqlite_path"]


class SQLiteBroker(
    SQLiteProducer,
    SQLiteConsumer,
    SQLiteInspection,
    SQLiteStates,
    SQLiteLeases,
    SQLiteChords,
    SQLiteWorkers,
    SQLiteRevocations,
    SQLiteMaintenance,
):
    """:class:`~taskqueue.broker.Broker` on a SQLite file; safe across processes and threads.

    ``url`` is ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``. The file is
    created (mode 0600) with its tables if missing. Raises BrokerUnavailable if it cannot be
    opened and BrokerError if it is not a queue database (corrupt, or another kind of file).
    A write waits up to ``busy_timeout`` for another process's write, then raises
    BrokerUnavailable.
    """

    def __repr__(self) -> str:
        return f"SQLiteBroker({self.url!r})"
