"""Chord parts on SQLite: a table made on first use, written and read in one write
transaction (``BEGIN IMMEDIATE``: members finishing together see the count in turn)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskqueue.chord_values import complete_parts, encode_part
from taskqueue.records import DEFAULT_RESULT_TTL
from taskqueue.sqlite.connection import SQLiteConnection, clock_s

_CREATE = (
    "CREATE TABLE IF NOT EXISTS chord_parts (chord_id TEXT NOT NULL, idx INTEGER NOT NULL,"
    " value TEXT NOT NULL, expires_s REAL NOT NULL, PRIMARY KEY (chord_id, idx))"
)
_UPSERT = "INSERT OR REPLACE INTO chord_parts (chord_id, idx, value, expires_s) VALUES (?, ?, ?, ?)"
_PURGE = "DELETE FROM chord_parts WHERE expires_s < ?"
_SELECT = "SELECT idx, value FROM chord_parts WHERE chord_id = ?"


class SQLiteChords(SQLiteConnection):
    """:class:`~taskqueue.broker.ChordParts` on SQLite."""

    def chord_part(
        self, chord_id: str, index: int, size: int, value: Any, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[Any] | None:
        data = encode_part(value)
        now_s = clock_s()
        with self._db.write() as conn:
            conn.exec_driver_sql(_CREATE)
            conn.exec_driver_sql(_PURGE, (now_s,))
            conn.exec_driver_sql(_UPSERT, (chord_id, index, data, now_s + ttl.total_seconds()))
            stored = conn.exec_driver_sql(_SELECT, (chord_id,)).all()
        return complete_parts(chord_id, size, [(row[0], row[1]) for row in stored])
