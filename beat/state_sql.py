"""The SQL of the run-state store (:mod:`beat.state`): its table, the set-up of a SQLite
connection, and the one-statement PostgreSQL writes."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from beat import state_names as col
from beat.state_names import TABLE_NAME

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.schema import Table


# PostgreSQL: record every fire in one statement; the CASE is max() with NULL as "never".
PG_RECORD = f"""
UPDATE {TABLE_NAME} AS s
SET {col.LAST_FIRE_US} = CASE WHEN s.{col.LAST_FIRE_US} IS NULL OR s.{col.LAST_FIRE_US} < v.fire
                        THEN v.fire ELSE s.{col.LAST_FIRE_US} END,
    {col.LAST_DISPATCHED_AT_US} = %(now)s
FROM (SELECT unnest(%(names)s::varchar[]) AS name, unnest(%(fires)s::bigint[]) AS fire) AS v
WHERE s.{col.NAME} = v.name
"""

# PostgreSQL: insert or update every row in one statement (GREATEST ignores NULLs; first_seen
# is never overwritten: see upsert_new).
PG_UPSERT = f"""
INSERT INTO {TABLE_NAME} ({", ".join(col.COLUMNS)})
SELECT * FROM unnest(%(name)s::varchar[], %(last)s::bigint[], %(first)s::bigint[],
                     %(digest)s::varchar[], %(dispatched)s::bigint[], %(edited)s::bigint[])
ON CONFLICT ({col.NAME}) DO UPDATE SET
    {col.LAST_FIRE_US} = GREATEST({TABLE_NAME}.{col.LAST_FIRE_US}, EXCLUDED.{col.LAST_FIRE_US}),
    {col.CONTENT_HASH} = EXCLUDED.{col.CONTENT_HASH},
    {col.LAST_DISPATCHED_AT_US} = EXCLUDED.{col.LAST_DISPATCHED_AT_US},
    {col.EDITED_AT_US} = EXCLUDED.{col.EDITED_AT_US}
"""


def executemany(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> int:
    """Run ``stmt`` once per row through the driver's own ``executemany``; rows updated.

    SQLAlchemy's per-row parameter processing costs more than the database work here (100k
    rows: ~0.9 s against ~0.3 s), and every value is already a plain int/str/None, so the
    statement is compiled once and the rows go to the driver as they are.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    order = compiled.positiontup
    if compiled.positional and order:
        # itemgetter: the per-row reordering in C (a genexpr per row was ~a fifth of a fire's
        # recording); one key gives a bare value, which the driver wants as a 1-tuple.
        get = itemgetter(*order)
        params: list[Any] = (
            [(v,) for v in map(get, rows)] if len(order) == 1 else list(map(get, rows))
        )
    else:
        params = rows
    result = conn.exec_driver_sql(str(compiled), params)
    return int(result.rowcount)


def define_table(metadata: Any) -> Table:
    import sqlalchemy as sa

    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column(col.NAME, sa.String(512), primary_key=True),
        sa.Column(col.LAST_FIRE_US, sa.BigInteger, nullable=True),
        sa.Column(col.FIRST_SEEN_US, sa.BigInteger, nullable=False),
        sa.Column(col.CONTENT_HASH, sa.String(64), nullable=False),
        sa.Column(col.LAST_DISPATCHED_AT_US, sa.BigInteger, nullable=True),
        sa.Column(col.EDITED_AT_US, sa.BigInteger, nullable=True),
    )


def define_pause_table(metadata: Any) -> Table:
    """The pauses (:mod:`beat.state_pause`): a table of its own, so the state table of an
    existing database is unchanged and every beat creates it on first use."""
    import sqlalchemy as sa

    return sa.Table(
        col.PAUSE_TABLE,
        metadata,
        sa.Column(col.NAME, sa.String(512), primary_key=True),
        sa.Column(col.PAUSED, sa.Integer, nullable=False),
        sa.Column(col.NOTE, sa.String(1000), nullable=False),
        sa.Column(col.SINCE_US, sa.BigInteger, nullable=False),
    )


def define_log_table(metadata: Any) -> Table:
    """The fire log (``beat history``): one row per fire of an entry, newest kept (see
    :meth:`beat.state.StateStore.record_fires`); indexed apart are the backfilled fires."""
    import sqlalchemy as sa

    table = sa.Table(
        col.LOG_TABLE,
        metadata,
        sa.Column(col.NAME, sa.String(512), primary_key=True),
        sa.Column(col.FIRE_US, sa.BigInteger, primary_key=True),
        sa.Column(col.FIRE_ID, sa.String(600), nullable=False),
        sa.Column(col.AT_US, sa.BigInteger, nullable=False),
        sa.Column(col.OUTCOME, sa.String(16), nullable=False),
        sa.Column(col.REASON, sa.String(1000), nullable=False),
    )
    backfilled = table.c[col.OUTCOME] == sa.literal_column(f"'{BACKFILL_SENT}'")
    sa.Index(
        f"{col.LOG_TABLE}_backfill",
        table.c[col.AT_US],
        sqlite_where=backfilled,
        postgresql_where=backfilled,
    )
    return table


# The first outcome of a fire stays, unless it was only waiting (overlap buffer_one): then
# what became of it (sent, skipped) replaces it.
LOG_REPLACEABLE = "buffered"
# The outcome of a fire sent by `beat backfill`; the leader reads these rows every tick (a
# partial index holds only them, so the read costs the same with any number of entries).
BACKFILL_SENT = "sent (backfill)"

# PostgreSQL: every log row of a dispatch in one statement.
PG_LOG = f"""
INSERT INTO {col.LOG_TABLE} AS l ({", ".join(col.LOG_COLUMNS)})
SELECT * FROM unnest(%(name)s::varchar[], %(fire)s::bigint[], %(id)s::varchar[],
                     %(at)s::bigint[], %(outcome)s::varchar[], %(reason)s::varchar[])
ON CONFLICT ({col.NAME}, {col.FIRE_US}) DO UPDATE SET
    {col.AT_US} = EXCLUDED.{col.AT_US}, {col.OUTCOME} = EXCLUDED.{col.OUTCOME},
    {col.REASON} = EXCLUDED.{col.REASON}
WHERE l.{col.OUTCOME} = '{LOG_REPLACEABLE}'
"""

# Keep an entry's newest rows: everything older than its KEEP-th newest goes.
PRUNE_LOG = f"""
DELETE FROM {col.LOG_TABLE} WHERE {col.NAME} = :name AND {col.FIRE_US} < (
    SELECT {col.FIRE_US} FROM {col.LOG_TABLE} WHERE {col.NAME} = :name
    ORDER BY {col.FIRE_US} DESC LIMIT 1 OFFSET :skip)
"""


def sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
