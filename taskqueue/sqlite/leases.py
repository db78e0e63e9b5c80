"""Leader leases on SQLite (beat's high availability): rows of a ``leases`` table in the queue
file. The fencing check of a fenced enqueue runs in the enqueue's own ``BEGIN IMMEDIATE``
transaction (see :meth:`~taskqueue.sqlite.connection.SQLiteConnection._check_fence`), so
several beats on one host can share the file and a stale leader can never push. The token
column survives a release or an expiry, so tokens only grow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskqueue.records import LeaseHolder
from taskqueue.sqlite.connection import SQLiteConnection, clock_s


def _lease_ttl_s(ttl: timedelta) -> float:
    if ttl <= timedelta(0):
        raise ValueError(f"lease ttl {ttl}: must be positive")
    return ttl.total_seconds()


class SQLiteLeases(SQLiteConnection):
    """:class:`~taskqueue.broker.LeaderLease` on SQLite."""

    def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> int | None:
        """Take lease ``name`` if free, expired or ``owner``'s; its fencing token, else None."""
        ttl_s = _lease_ttl_s(ttl)
        with self._db.write() as conn:
            now_s = clock_s()
            row = self._lease_row(conn, name)
            if row is not None and row[0] is not None and row[2] > now_s:
                if row[0] != owner:
                    return None
                token = row[1]
            else:
                token = (row[1] if row is not None else 0) + 1
            conn.exec_driver_sql(
                "INSERT INTO leases (name, owner, token, expires_s) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "token = excluded.token, expires_s = excluded.expires_s",
                (name, owner, token, now_s + ttl_s),
            )
            return token

    def renew_lease(self, name: str, owner: str, token: int, ttl: timedelta) -> bool:
        """Extend the lease by ``ttl`` from now; False if ``owner``/``token`` lost it."""
        ttl_s = _lease_ttl_s(ttl)
        with self._db.write() as conn:
            now_s = clock_s()
            self._leases(conn)
            updated = conn.exec_driver_sql(
                "UPDATE leases SET expires_s = ? "
                "WHERE name = ? AND owner = ? AND token = ? AND expires_s > ?",
                (now_s + ttl_s, name, owner, token, now_s),
            )
            return updated.rowcount == 1

    def release_lease(self, name: str, owner: str, token: int) -> None:
        """Give the lease up if ``owner``/``token`` hold it (the token stays for the next)."""
        with self._db.write() as conn:
            self._leases(conn)
            conn.exec_driver_sql(
                "UPDATE leases SET owner = NULL, expires_s = 0 "
                "WHERE name = ? AND owner = ? AND token = ?",
                (name, owner, token),
            )

    def lease_holder(self, name: str) -> LeaseHolder | None:
        """The live holder of lease ``name``, or None."""
        with self._db.write() as conn:  # a write: the table may have to be made first
            row = self._lease_row(conn, name)
        if row is None or row[0] is None or row[2] <= clock_s():
            return None
        return LeaseHolder(row[0], row[1], datetime.fromtimestamp(row[2], UTC))
