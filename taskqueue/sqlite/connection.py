"""The SQLite file under every role: the database, the clock, purging, the lease table.

The file, its tables and its transactions (WAL, ``BEGIN IMMEDIATE`` for every write, mode 0600)
are in :mod:`taskqueue.sqlite_schema`; the role classes build on :class:`SQLiteConnection`, and
each operation is one transaction, so it is atomic across processes.

Instants are float epoch seconds from ``datetime.now(UTC)``: one host, one clock (the Redis
broker's scripts use the server's clock instead, as hosts' clocks may disagree).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from taskqueue.errors import Fenced
from taskqueue.message import require_aware
from taskqueue.records import Fence
from taskqueue.sqlite_schema import (
    BUSY_TIMEOUT,
    QueueDatabase,
    consumers,
    dedupe,
    queues,
    statuses,
)

# Expired dedupe ids, statuses and consumers are deleted at most this often per broker object.
PURGE_EVERY_S = 60.0

# The lease table, made on first use (IF NOT EXISTS: files made before leases existed get it
# too, with no schema version bump). owner is NULL once released; token never goes down.
_CREATE_LEASES = (
    "CREATE TABLE IF NOT EXISTS leases ("
    "name TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, expires_s REAL NOT NULL)"
)
_LEASE_ROW = "SELECT owner, token, expires_s FROM leases WHERE name = ?"


def clock_s() -> float:
    return datetime.now(UTC).timestamp()


def epoch(value: datetime) -> float:
    return require_aware(value, "instant").timestamp()


def instant(value_s: float | None) -> datetime | None:
    return None if value_s is None else datetime.fromtimestamp(value_s, UTC)


class SQLiteConnection:
    """The queue database and the per-object throttles the role classes share (the URL and
    the errors it raises: see :class:`~taskqueue.sqlite.SQLiteBroker`)."""

    def __init__(self, url: str, *, busy_timeout: timedelta = BUSY_TIMEOUT) -> None:
        self.url = url
        self._db = QueueDatabase(url, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._next_recover_s = 0.0
        self._next_purge_s = 0.0
        # Whether the last batch claim took something: then the next one goes straight to the
        # write transaction (more is likely waiting) instead of probing first.
        self._last_claim_hit = False
        self._leases_ready = False
        self._tables_made: set[str] = set()

    @staticmethod
    def _touch_queues(conn: sa.Connection, names: set[str], now: float) -> None:
        conn.execute(
            sqlite_insert(queues).on_conflict_do_nothing(),
            [{"name": n, "created_s": now} for n in sorted(names)],
        )

    def _purge(self, conn: sa.Connection, now: float) -> None:
        """Delete what has expired, at most every PURGE_EVERY_S (inside a write)."""
        if now < self._next_purge_s:
            return
        self._next_purge_s = now + PURGE_EVERY_S
        conn.execute(sa.delete(dedupe).where(dedupe.c.expires_s <= now))
        conn.execute(sa.delete(statuses).where(statuses.c.expires_s <= now))
        conn.execute(sa.delete(consumers).where(consumers.c.expires_s <= now))

    def _leases(self, conn: sa.Connection) -> None:
        if not self._leases_ready:
            conn.exec_driver_sql(_CREATE_LEASES)
            self._leases_ready = True

    def _table(self, conn: sa.Connection, name: str, ddl: str) -> None:
        """Make table ``name`` (``CREATE TABLE IF NOT EXISTS``) once per broker object: tables
        added after files were first made, with no schema version bump."""
        if name not in self._tables_made:
            conn.exec_driver_sql(ddl)
            self._tables_made.add(name)

    @staticmethod
    def _has_table(conn: sa.Connection, name: str) -> bool:
        """Whether table ``name`` exists (a read must not create it)."""
        found = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).first()
        return found is not None

    def _lease_row(self, conn: sa.Connection, name: str) -> tuple[str | None, int, float] | None:
        self._leases(conn)
        row = conn.exec_driver_sql(_LEASE_ROW, (name,)).first()
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def _check_fence(self, conn: sa.Connection, fence: Fence, now: float) -> None:
        """Raise Fenced unless ``fence``'s token is its live lease's (inside the enqueue's
        transaction, so a stale leader can never push)."""
        row = self._lease_row(conn, fence[0])
        live = row is not None and row[0] is not None and row[2] > now
        if not live or row is None or row[1] != fence[1]:
            holder, current = (row[0], row[1]) if live and row is not None else (None, None)
            raise Fenced(fence[0], fence[1], holder, current)

    def now(self) -> datetime:
        """The local clock: every process using the file is on this host."""
        return datetime.now(UTC)

    def ping(self) -> None:
        """Raise BrokerUnavailable (BrokerError if the file is corrupt) unless it answers."""
        with self._db.read() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(queues)).scalar_one()

    def close(self) -> None:
        self._db.close()
