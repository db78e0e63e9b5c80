"""Requeueing dead letters and dropping messages on SQLite (``beat dead``, ``beat purge``):
each call is one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from taskqueue.dead_letters import Requeued, requeued_message
from taskqueue.records import DEFAULT_RESULT_TTL, TaskState, TaskStatus
from taskqueue.sqlite.connection import SQLiteConnection, clock_s, epoch
from taskqueue.sqlite.states import status_row
from taskqueue.sqlite_schema import INSERT_MESSAGES, READY, UPSERT_STATUS

_DEAD = (
    "SELECT seq, CAST(message_id AS BLOB), CAST(payload AS BLOB) FROM dead_letters "
    "WHERE queue = ? ORDER BY seq"
)
_WAITING = "SELECT 1 FROM messages WHERE queue = ? AND message_id = ? LIMIT 1"
# SQLite records QUEUED when a message is sent: a dropped message's QUEUED status goes too.
_FORGET_READY = (
    "DELETE FROM statuses WHERE state = 'QUEUED' AND task_id IN "
    "(SELECT message_id FROM messages WHERE queue = ? AND state = ?)"
)


class SQLiteMaintenance(SQLiteConnection):
    """:class:`~taskqueue.broker.QueueMaintenance` on SQLite."""

    def requeue_dead(self, queue: str, message_ids: Sequence[str] | None = None) -> Requeued:
        """Put the queue's dead letters (all, or those of ``message_ids``) back as new
        deliveries: same id, attempts reset, recorded QUEUED."""
        wanted = None if message_ids is None else set(message_ids)
        done = Requeued(queue)
        now_s = clock_s()
        with self._db.write() as conn:
            for seq, raw_id, payload in conn.exec_driver_sql(_DEAD, (queue,)).all():
                message_id = bytes(raw_id).decode(errors="replace")
                if wanted is not None and message_id not in wanted:
                    continue
                fresh = requeued_message(message_id, bytes(payload))
                if isinstance(fresh, str):
                    done.refused[message_id] = fresh
                    continue
                if conn.exec_driver_sql(_WAITING, (queue, message_id)).first() is not None:
                    done.refused[message_id] = "a message with this id is waiting in the queue"
                    continue
                row = (message_id, queue, fresh.priority, READY, now_s, None, fresh.encode())
                conn.exec_driver_sql(INSERT_MESSAGES, row)
                conn.exec_driver_sql("DELETE FROM dead_letters WHERE seq = ?", (seq,))
                status = TaskStatus(
                    id=message_id, task=fresh.task, state=TaskState.QUEUED, attempts=0
                )
                conn.exec_driver_sql(UPSERT_STATUS, status_row(status, 0.0, DEFAULT_RESULT_TTL))
                done.requeued.append(message_id)
        return done

    def purge_dead(self, queue: str, older_than: datetime | None = None) -> int:
        """Delete the queue's dead letters (those recorded at or before ``older_than``); how
        many."""
        with self._db.write() as conn:
            if older_than is None:
                result = conn.exec_driver_sql("DELETE FROM dead_letters WHERE queue = ?", (queue,))
            else:
                result = conn.exec_driver_sql(
                    "DELETE FROM dead_letters WHERE queue = ? AND at_s <= ?",
                    (queue, epoch(older_than)),
                )
            return int(result.rowcount)

    def purge_ready(self, queue: str) -> int:
        """Drop the queue's ready messages (not delayed, not in flight); how many."""
        with self._db.write() as conn:
            conn.exec_driver_sql(_FORGET_READY, (queue, READY))
            result = conn.exec_driver_sql(
                "DELETE FROM messages WHERE queue = ? AND state = ?", (queue, READY)
            )
            return int(result.rowcount)
