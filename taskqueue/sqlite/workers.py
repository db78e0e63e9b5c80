"""Worker heartbeat records on SQLite (``beat workers``): the ``workers`` table, made on first
use. Every column is read back as untrusted (SQLite stores any type in any column)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from taskqueue.heartbeats import MISSED_KEPT, WorkerRecord, WorkerSeen, seen
from taskqueue.sqlite.connection import SQLiteConnection, clock_s

_TABLE = "workers"
_CREATE = (
    "CREATE TABLE IF NOT EXISTS workers ("
    "name TEXT PRIMARY KEY, record TEXT NOT NULL, last_seen_s REAL NOT NULL, "
    "expires_s REAL NOT NULL)"
)
_UPSERT = (
    "INSERT INTO workers (name, record, last_seen_s, expires_s) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET record = excluded.record, "
    "last_seen_s = excluded.last_seen_s, expires_s = excluded.expires_s"
)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _row(name: Any, record: Any, last_seen_s: Any, expires_s: Any, now: datetime) -> WorkerSeen:
    label = name if isinstance(name, str) else repr(name)
    last_seen, expires_at = _instant(last_seen_s), _instant(expires_s)
    if last_seen is None or expires_at is None:
        problem = (
            f"worker {label!r}: heartbeat row has last_seen_s {last_seen_s!r} and expires_s "
            f"{expires_s!r}, not both epoch seconds"
        )
        return WorkerSeen(label, None, last_seen, expires_at, False, problem)
    if not isinstance(record, str | bytes):
        record = repr(record)  # parsed below as the garbage it is
    return seen(label, record, last_seen, expires_at, now)


class SQLiteWorkers(SQLiteConnection):
    """:class:`~taskqueue.broker.WorkerHeartbeats` on SQLite."""

    def publish_worker(self, record: WorkerRecord, ttl: timedelta) -> None:
        """Store ``record``, seen now, live for ``ttl``; drop workers missed for too long."""
        now_s = clock_s()
        with self._db.write() as conn:
            self._table(conn, _TABLE, _CREATE)
            conn.exec_driver_sql(
                _UPSERT, (record.name, record.to_json(), now_s, now_s + ttl.total_seconds())
            )
            forgotten_s = now_s - MISSED_KEPT.total_seconds()
            conn.exec_driver_sql("DELETE FROM workers WHERE expires_s < ?", (forgotten_s,))

    def remove_worker(self, name: str) -> None:
        """Remove ``name``'s record now (a clean stop)."""
        with self._db.write() as conn:
            self._table(conn, _TABLE, _CREATE)
            conn.exec_driver_sql("DELETE FROM workers WHERE name = ?", (name,))

    def workers(self) -> list[WorkerSeen]:
        """Every worker live or missed within MISSED_KEPT, by name; garbage named per row."""
        now = datetime.now(UTC)
        forgotten = now - MISSED_KEPT
        with self._db.read() as conn:
            if not self._has_table(conn, _TABLE):
                return []
            rows = conn.exec_driver_sql(
                "SELECT name, record, last_seen_s, expires_s FROM workers"
            ).all()
        listed = [_row(r[0], r[1], r[2], r[3], now) for r in rows]
        listed = [w for w in listed if w.expires_at is None or w.expires_at > forgotten]
        return sorted(listed, key=lambda w: w.name)
