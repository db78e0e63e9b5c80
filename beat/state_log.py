"""The fire log of the run state (``beat history``, the overlap gate's memory): one row per fire
of an entry, written in the transaction that records the fires, newest kept.

:class:`beat.state.StateStore` owns the connection and the error handling; this module owns the
log's rows: how they are written (the first outcome of a fire stays, unless it was only
waiting), pruned and read.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from beat import state_names as col
from beat.state_epoch import chunks, from_epoch_us, to_epoch_us
from beat.state_sql import (
    BACKFILL_SENT,
    LOG_REPLACEABLE,
    PG_LOG,
    PRUNE_LOG,
    executemany,
    is_backfill,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.schema import Table

# The fire log keeps at least this many of each entry's newest fires (``beat history``). Older
# rows are pruned once per KEEP fires an entry logs, so an entry holds at most 2 * KEEP rows
# (3 * KEEP across a restart, whose count starts over).
FIRE_LOG_KEEP = 100

# The outcome of a run triggered by hand (``beat trigger``, the dashboard): not a scheduled
# fire, so it never counts as one (beat.overlap reads only sent/duplicate and backfills).
MANUAL = "manual"
# The outcomes of a fire whose task is in the broker: sent by the leader, refused as already
# there, triggered by hand, or sent by `beat backfill`.
ENQUEUED = frozenset({"sent", "duplicate", MANUAL, BACKFILL_SENT})


@dataclass(frozen=True, slots=True)
class FireRecord:
    """One line of an entry's fire log: what became of the fire ``fire_id`` scheduled for
    ``scheduled_for`` at ``at``. ``outcome``: ``sent``, ``duplicate`` (already enqueued),
    ``sent (backfill)``, ``skipped`` (``reason`` says why) or ``failed`` (not encoded;
    ``reason`` is the error)."""

    entry: str
    scheduled_for: datetime
    fire_id: str
    outcome: str
    reason: str = ""
    at: datetime | None = None  # when it was disposed of; None: the record's ``now``


def log_rows(log: Sequence[FireRecord], now_us: int) -> list[dict[str, Any]]:
    """The bound parameters of the fire log lines ``log`` recorded at ``now_us``."""
    return [
        {
            "b_name": r.entry,
            "b_fire_us": to_epoch_us(r.scheduled_for),
            "b_fire_id": r.fire_id,
            "b_at_us": now_us if r.at is None else to_epoch_us(r.at),
            "b_outcome": r.outcome,
            "b_reason": r.reason[:1000],
        }
        for r in log
    ]


class FireLog:
    """Writes and reads the fire log table of one store (``dialect``: its database's)."""

    def __init__(self, table: Table, dialect: str) -> None:
        self.table = table
        self.dialect = dialect
        # Fires logged per entry since its last prune (see FIRE_LOG_KEEP); each entry starts at
        # its own offset, so a burst of entries firing together prunes a few at a time.
        self._logged: dict[str, int] = {}

    def write(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """The fire log lines of one record (the first outcome of a fire stays), then the
        prune of the entries that logged FIRE_LOG_KEEP fires since their last one."""
        import sqlalchemy as sa

        if not rows:
            return
        if self.dialect == "postgresql":
            keys = ("name", "fire", "id", "at", "outcome", "reason")
            pairs = zip(keys, col.LOG_COLUMNS, strict=True)
            arrays = {k: [r[f"b_{c}"] for r in rows] for k, c in pairs}
            conn.exec_driver_sql(PG_LOG, arrays)
        else:
            t = self.table
            values = {c.name: sa.bindparam(f"b_{c.name}", type_=c.type) for c in t.columns}
            insert: Any = sa.insert(t).values(values)
            if self.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                insert = sqlite_insert(t).values(values)
                new = insert.excluded
                insert = insert.on_conflict_do_update(
                    index_elements=[t.c.name, t.c.fire_us],
                    set_={"at_us": new.at_us, "outcome": new.outcome, "reason": new.reason},
                    # Inlined: executemany binds only the row's own parameters.
                    where=sa.text(f"{col.LOG_TABLE}.{col.OUTCOME} = '{LOG_REPLACEABLE}'"),
                )
            executemany(conn, insert, rows)
        prune = []
        for row in rows:
            name = row["b_name"]
            count = self._logged.get(name)
            if count is None:
                count = zlib.crc32(name.encode()) % FIRE_LOG_KEEP
            count += 1
            if count >= FIRE_LOG_KEEP:
                prune.append({"name": name, "skip": FIRE_LOG_KEEP - 1})
                count = 0
            self._logged[name] = count
        for params in prune:
            conn.execute(sa.text(PRUNE_LOG), params)

    def overlap_memory(
        self, conn: Connection, names: Sequence[str]
    ) -> tuple[dict[str, datetime], dict[str, FireRecord]]:
        """See :meth:`beat.state.StateStore.overlap_memory`."""
        import sqlalchemy as sa

        t = self.table
        newest: dict[str, datetime] = {}
        waiting: dict[str, FireRecord] = {}
        for chunk in chunks(list(names)):
            sent = sa.select(t.c.name, sa.func.max(t.c.fire_us)).where(
                t.c.name.in_(chunk), t.c.outcome.in_(("sent", "duplicate"))
            )
            for name, fire_us in conn.execute(sent.group_by(t.c.name)):
                newest[name] = from_epoch_us(fire_us)
            buffered = sa.select(*(t.c[c] for c in col.LOG_COLUMNS)).where(
                t.c.name.in_(chunk), t.c.outcome == LOG_REPLACEABLE
            )
            for n, fire, fid, _at, outcome, reason in conn.execute(buffered):
                record = FireRecord(n, from_epoch_us(fire), fid, outcome, reason)
                last = waiting.get(n)
                if last is None or record.scheduled_for > last.scheduled_for:
                    waiting[n] = record
        fresh = {n: r for n, r in waiting.items() if n not in newest or r.scheduled_for > newest[n]}
        return newest, fresh

    def newest(self, conn: Connection, name: str, limit: int) -> list[FireRecord]:
        """The newest ``limit`` lines of ``name``'s fire log, newest first."""
        import sqlalchemy as sa

        t = self.table
        query = (
            sa.select(*(t.c[c] for c in col.LOG_COLUMNS))
            .where(t.c.name == name)
            .order_by(t.c.fire_us.desc())
            .limit(limit)
        )
        found = conn.execute(query).all()
        return [
            FireRecord(n, from_epoch_us(fire), fid, outcome, reason, from_epoch_us(at))
            for n, fire, fid, at, outcome, reason in found
        ]

    def backfills_since(self, conn: Connection, since_us: int) -> list[FireRecord]:
        """The fires ``beat backfill`` sent, logged at or after ``since_us`` (partial index)."""
        import sqlalchemy as sa

        t = self.table
        query = sa.select(*(t.c[c] for c in col.LOG_COLUMNS)).where(
            is_backfill(t), t.c.at_us >= since_us
        )
        return [
            FireRecord(n, from_epoch_us(fire), fid, outcome, reason, from_epoch_us(at))
            for n, fire, fid, at, outcome, reason in conn.execute(query)
        ]
