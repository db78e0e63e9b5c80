"""Task statuses on SQLite: rows of ``statuses``, expiring a lifetime after a final state
(purged lazily by the next write). SQLite has no blocking wait: ``wait_done`` sleeps one poll
interval and the caller reads the status again."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from taskqueue.records import DEFAULT_RESULT_TTL, FINAL_STATES, TaskState, TaskStatus
from taskqueue.sqlite.connection import SQLiteConnection, clock_s, epoch
from taskqueue.sqlite_read import status_from_record
from taskqueue.sqlite_schema import UPSERT_STATUS, statuses


def status_row(status: TaskStatus, now_s: float, ttl: timedelta) -> tuple[Any, ...]:
    """The statuses row of ``status`` (raises TypeError/ValueError if the result is not
    JSON); a final state expires ``ttl`` (or the status's own ``keep``) from now."""
    return (
        status.id,
        status.task,
        TaskState(status.state).value,
        status.attempts,
        json.dumps(status.result, allow_nan=False),
        status.error,
        None if status.started_at is None else epoch(status.started_at),
        None if status.finished_at is None else epoch(status.finished_at),
        now_s + status.kept(ttl).total_seconds() if status.state in FINAL_STATES else None,
        status.deliveries,
        status.details_json(),
    )


class SQLiteStates(SQLiteConnection):
    """:class:`~taskqueue.broker.TaskStates` on SQLite."""

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state; kept ``ttl`` after a final state, then purged lazily.

        Raises TypeError/ValueError, before writing anything, if the result is not JSON.
        """
        now_s = clock_s()
        row = status_row(status, now_s, ttl)
        with self._db.write() as conn:
            conn.exec_driver_sql(UPSERT_STATUS, row)
            self._purge(conn, now_s)

    def get_status(self, task_id: str) -> TaskStatus | None:
        """What is known of ``task_id``; None if never seen or expired."""
        return self.get_statuses([task_id])[task_id]

    def get_statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus | None]:
        """:meth:`get_status` of every id, in one query per 500 ids."""
        s = statuses.c
        out: dict[str, TaskStatus | None] = dict.fromkeys(task_ids)
        ids = list(out)
        with self._db.read() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(statuses).where(
                        s.task_id.in_(ids[start : start + 500]),
                        sa.or_(s.expires_s.is_(None), s.expires_s > clock_s()),
                    )
                ).all()
                for row in rows:
                    record = dict(row._mapping)
                    out[record["task_id"]] = status_from_record(record, self.url)
        return out

    def wait_done(
        self, task_id: str, timeout: timedelta, poll_interval: timedelta
    ) -> TaskStatus | None:
        """Sleep one poll interval (at most ``timeout``); the status then."""
        time.sleep(max(0.0, min(timeout, poll_interval).total_seconds()))
        return self.get_status(task_id)

    def forget(self, task_id: str) -> None:
        """Delete what is known of ``task_id`` (its status row)."""
        with self._db.write() as conn:
            conn.execute(sa.delete(statuses).where(statuses.c.task_id == task_id))
