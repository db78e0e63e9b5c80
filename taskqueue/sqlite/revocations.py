"""Revoking task ids on SQLite (``beat revoke``): the ``revoked`` table, made on first use.

``revoke`` records the revocation, removes a waiting message and records it REVOKED in one
transaction; the claim transaction drops any claimed row whose id is revoked
(:func:`drop_revoked`), so a revoked id is never delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from taskqueue.message import named_task
from taskqueue.records import (
    DEFAULT_RESULT_TTL,
    REVOKED_ERROR,
    Revocation,
    RevokedWhere,
    TaskState,
    TaskStatus,
)
from taskqueue.sqlite.connection import SQLiteConnection, clock_s
from taskqueue.sqlite.states import status_row
from taskqueue.sqlite_schema import IN_FLIGHT, UPSERT_STATUS

TABLE = "revoked"
CREATE = (
    "CREATE TABLE IF NOT EXISTS revoked ("
    "task_id TEXT PRIMARY KEY, terminate INTEGER NOT NULL, expires_s REAL NOT NULL)"
)
_UPSERT = (
    "INSERT INTO revoked (task_id, terminate, expires_s) VALUES (?, ?, ?) "
    "ON CONFLICT (task_id) DO UPDATE SET terminate = max(terminate, excluded.terminate), "
    "expires_s = excluded.expires_s"
)
# A revocation in force: its expiry a number (garbage in the column is not a revocation: SQLite
# compares any text as greater than any number) and still ahead.
_LIVE = "typeof(expires_s) IN ('integer', 'real') AND expires_s > ?"
_FIND = (
    "SELECT seq, queue, state, CAST(payload AS BLOB) FROM messages WHERE message_id = ? "
    "ORDER BY seq LIMIT 1"
)


def revoked_status(task_id: str, payload: bytes, now_s: float, expires_s: float) -> tuple[Any, ...]:
    """The statuses row recording ``task_id`` REVOKED until ``expires_s``."""
    task, attempt = named_task(payload) or ("", 0)
    status = TaskStatus(
        id=task_id,
        task=task,
        state=TaskState.REVOKED,
        attempts=attempt,
        error=REVOKED_ERROR,
        finished_at=datetime.fromtimestamp(now_s, UTC),
    )
    return status_row(status, now_s, timedelta(seconds=max(expires_s - now_s, 0.001)))


def drop_revoked(
    conn: sa.Connection, claimed: Sequence[tuple[str, Any]], now_s: float
) -> tuple[set[str], list[tuple[Any, ...]]]:
    """Inside a claim: delete the claimed rows (id, row) whose id is revoked; their ids and
    REVOKED statuses rows."""
    ids = [message_id for message_id, _ in claimed]
    marks = ",".join("?" * len(ids))
    found: dict[str, float] = dict(
        conn.exec_driver_sql(
            f"SELECT task_id, expires_s FROM revoked WHERE {_LIVE} AND task_id IN ({marks})",
            (now_s, *ids),
        ).all()
    )
    statuses: list[tuple[Any, ...]] = []
    for message_id, row in claimed:
        if message_id in found:
            conn.exec_driver_sql("DELETE FROM messages WHERE seq = ?", (row.seq,))
            statuses.append(
                revoked_status(message_id, bytes(row.payload), now_s, float(found[message_id]))
            )
    return set(found), statuses


class SQLiteRevocations(SQLiteConnection):
    """:class:`~taskqueue.broker.Revocations` on SQLite."""

    def revoke(
        self, task_id: str, *, terminate: bool = False, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> Revocation:
        """Revoke ``task_id`` for ``ttl`` (see the protocol); where it was."""
        now_s = clock_s()
        expires_s = now_s + max(ttl.total_seconds(), 0.001)
        expires_at = datetime.fromtimestamp(expires_s, UTC)
        with self._db.write() as conn:
            self._table(conn, TABLE, CREATE)
            conn.exec_driver_sql("DELETE FROM revoked WHERE expires_s <= ?", (now_s,))
            conn.exec_driver_sql(_UPSERT, (task_id, int(terminate), expires_s))
            row = conn.exec_driver_sql(_FIND, (task_id,)).first()
            if row is None:
                return Revocation(task_id, RevokedWhere.NOT_FOUND, None, terminate, expires_at)
            seq, queue, state, payload = row
            if state == IN_FLIGHT:
                return Revocation(task_id, RevokedWhere.RUNNING, queue, terminate, expires_at)
            conn.exec_driver_sql("DELETE FROM messages WHERE seq = ?", (seq,))
            conn.exec_driver_sql(
                UPSERT_STATUS, revoked_status(task_id, bytes(payload), now_s, expires_s)
            )
        where = RevokedWhere.QUEUED if state == "ready" else RevokedWhere.DELAYED
        return Revocation(task_id, where, queue, terminate, expires_at)

    def terminations(self, task_ids: Sequence[str]) -> set[str]:
        """Those of ``task_ids`` revoked with terminate (revocation not expired)."""
        if not task_ids:
            return set()
        marks = ",".join("?" * len(task_ids))
        with self._db.read() as conn:
            if not self._has_table(conn, TABLE):
                return set()
            rows = conn.exec_driver_sql(
                f"SELECT task_id FROM revoked WHERE terminate = 1 AND {_LIVE} "
                f"AND task_id IN ({marks})",
                (clock_s(), *task_ids),
            ).scalars()
            return set(rows)
