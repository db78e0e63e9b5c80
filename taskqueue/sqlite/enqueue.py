"""Enqueue-once on SQLite: one transaction per call, the dedupe check and the push together.

Records QUEUED for each pushed message in the same transaction (one host: the writes are
cheap, and ``beat status`` then needs no queue lookup).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from taskqueue.encoding_producer import EncodingProducer
from taskqueue.records import EncodedMessage, Fence, Promoted, TaskState
from taskqueue.sqlite.connection import SQLiteConnection, clock_s
from taskqueue.sqlite_schema import (
    DELAYED,
    INSERT_MESSAGES,
    NEXT_DELAYED,
    PROMOTE_QUEUE_DUE,
    READY,
    UPSERT_DEDUPE,
    UPSERT_STATUS,
    dedupe,
)

_QUEUED = TaskState.QUEUED.value
_NO_OUTCOME = (None, None, None, None)  # error, started_at_s, finished_at_s, expires_s


def _rows(
    items: Sequence[EncodedMessage], seen: set[str], now: float
) -> tuple[list[bool], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Per item whether it is pushed (its id not in ``seen``, nor earlier in ``items``), and
    the message and status rows of those pushed."""
    pushed: list[bool] = []
    rows: list[tuple[Any, ...]] = []
    status_rows: list[tuple[Any, ...]] = []
    for m in items:
        fresh = m.id not in seen
        pushed.append(fresh)
        if not fresh:
            continue
        seen.add(m.id)
        eta_s = None if m.eta is None else m.eta.timestamp()
        if eta_s is not None and eta_s > now:
            rows.append((m.id, m.queue, m.priority, DELAYED, eta_s, eta_s, m.payload))
        else:
            rows.append((m.id, m.queue, m.priority, READY, now, None, m.payload))
        status_rows.append((m.id, m.task, _QUEUED, m.attempt, "null", *_NO_OUTCOME, 0, None))
    return pushed, rows, status_rows


class SQLiteProducer(SQLiteConnection, EncodingProducer):
    """:class:`~taskqueue.broker.Producer` on SQLite.

    A message with a future ``eta`` is held (delayed) until then; QUEUED is recorded. A batch is
    one transaction, and a second message with the same id in it is refused like any duplicate.
    """

    def _push(
        self, items: Sequence[EncodedMessage], dedupe_ttl: timedelta, fence: Fence | None
    ) -> list[bool]:
        """:meth:`enqueue_many` for messages already encoded: one transaction, executemany.

        With ``fence=(lease, token)`` the transaction first checks the lease and raises Fenced
        (nothing written) unless ``token`` is the live lease's.
        """
        with self._db.write() as conn:
            now = clock_s()
            if fence is not None:
                self._check_fence(conn, fence, now)
            ids = sa.func.json_each(json.dumps([m.id for m in items])).table_valued("value")
            seen = set(
                conn.execute(
                    sa.select(dedupe.c.message_id)
                    .join(ids, dedupe.c.message_id == ids.c.value)
                    .where(dedupe.c.expires_s > now)
                ).scalars()
            )
            pushed, rows, status_rows = _rows(items, seen, now)
            if rows:
                expires_s = now + dedupe_ttl.total_seconds()
                conn.exec_driver_sql(UPSERT_DEDUPE, [(r[0], expires_s) for r in rows])
                conn.exec_driver_sql(INSERT_MESSAGES, rows)
                conn.exec_driver_sql(UPSERT_STATUS, status_rows)
                self._touch_queues(conn, {r[1] for r in rows}, now)
        return pushed

    def promote_due(self, queue: str) -> Promoted:
        """Mark ``queue``'s due delayed rows ready (one UPDATE: a claim's promotion, for one
        queue), so they are claimable without waiting for a claim."""
        with self._db.write() as conn:
            now = clock_s()
            moved = conn.execute(PROMOTE_QUEUE_DUE, {"b_queue": queue, "now_s": now}).rowcount
            next_s = conn.execute(NEXT_DELAYED, {"b_queue": queue}).scalar()
        next_due = None if next_s is None else timedelta(seconds=max(0.0, next_s - now))
        return Promoted(int(moved), next_due)
