"""What the SQLite queues hold: their figures and their dead letters (read-only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from taskqueue.records import DeadLetter, QueueStats
from taskqueue.sqlite.connection import SQLiteConnection, clock_s
from taskqueue.sqlite_schema import (
    IN_FLIGHT,
    consumers,
    dead_letters,
    messages,
    queues,
)
from taskqueue.sqlite_stats import EXPIRED_LEASE, build_queue_stats


class SQLiteInspection(SQLiteConnection):
    """:class:`~taskqueue.broker.QueueInspection` on SQLite."""

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name.

        In flight counts leases still running; leases that ran out are ``expired_lease``.
        """
        m, d = messages.c, dead_letters.c
        now_s = clock_s()
        # An in-flight row's due_s is its lease deadline: past it, the claim is dead.
        state = sa.case(
            ((m.state == IN_FLIGHT) & (m.due_s <= now_s), sa.literal(EXPIRED_LEASE)),
            else_=m.state,
        )
        with self._db.read() as conn:
            names = set(conn.execute(sa.select(queues.c.name)).scalars())
            counts: dict[tuple[str, str], int] = {
                (q, s): n
                for q, s, n in conn.execute(
                    sa.select(m.queue, state, sa.func.count()).group_by(m.queue, state)
                )
            }
            dead: dict[str, int] = {
                q: n for q, n in conn.execute(sa.select(d.queue, sa.func.count()).group_by(d.queue))
            }
            live = conn.execute(
                sa.select(consumers.c.queues).where(consumers.c.expires_s > now_s)
            ).scalars()
            listening: dict[str, int] = {}
            for raw in live:
                for q in set(json.loads(raw)):
                    listening[q] = listening.get(q, 0) + 1
        every = sorted(names | {q for q, _ in counts} | set(dead))
        return build_queue_stats(every, counts, dead, listening)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The queue's dead letters, oldest first, at most ``limit``."""
        d = dead_letters.c
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(d.message_id, d.queue, d.payload, d.reason, d.at_s)
                .where(d.queue == queue)
                .order_by(d.seq)
                .limit(limit)
            ).all()
        return [
            DeadLetter(
                message_id=r.message_id,
                queue=r.queue,
                payload=r.payload,
                reason=r.reason,
                at=datetime.fromtimestamp(r.at_s, UTC),
            )
            for r in rows
        ]
