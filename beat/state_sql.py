"""The SQL of the run-state store (:mod:`beat.state`): its table, the set-up of a SQLite
connection (and of its file), and the write statements of each database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from pathlib import Path
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


def executemany(
    conn: Connection,
    stmt: Any,
    rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]],
    names: tuple[str, ...] | None = None,
) -> int:
    """Run ``stmt`` once per row through the driver's own ``executemany``; rows updated.
    ``rows``: mappings of bound parameters, or tuples of the parameters ``names`` in order.

    SQLAlchemy's per-row parameter processing costs more than the database work here (100k
    rows: ~0.9 s against ~0.3 s), and every value is already a plain int/str/None, so the
    statement is compiled once and the rows go to the driver as they are.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    order = compiled.positiontup
    params: Any = rows
    if compiled.positional and order:
        # itemgetter: the per-row reordering in C (a genexpr per row was ~a fifth of a fire's
        # recording); one key gives a bare value, which the driver wants as a 1-tuple.
        get = itemgetter(*(order if names is None else [names.index(k) for k in order]))
        if len(order) == 1:
            params = [(v,) for v in map(get, rows)]
        elif names is not None and list(order) == list(names):
            params = rows if isinstance(rows, list) else list(rows)  # already in order
        else:
            params = list(map(get, rows))
    elif names is not None:
        params = [dict(zip(names, row, strict=True)) for row in rows]
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


def is_backfill(table: Table) -> Any:
    """The fire log rows ``beat backfill`` sent: the partial index's filter, written once so
    that the query reading them (:meth:`beat.state_log.FireLog.backfills_since`) matches it
    and the database uses the index."""
    import sqlalchemy as sa

    return table.c[col.OUTCOME] == sa.literal_column(f"'{BACKFILL_SENT}'")


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
    backfilled = is_backfill(table)
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


def sqlite_upsert(t: Table, values: dict[str, Any]) -> Any:
    """SQLite: insert or update a state row; an existing row keeps its ``first_seen`` and its
    ``last_fire`` never moves back (see :meth:`beat.state.StateStore.upsert_new`)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(t).values(values)
    new, old = stmt.excluded.last_fire_us, t.c.last_fire_us
    return stmt.on_conflict_do_update(
        index_elements=[t.c.name],
        set_={
            "last_fire_us": sa.case((old.is_(None), new), (new > old, new), else_=old),
            "content_hash": stmt.excluded.content_hash,
            "last_dispatched_at_us": stmt.excluded.last_dispatched_at_us,
            "edited_at_us": stmt.excluded.edited_at_us,
        },
    )


def record_statement(t: Table) -> Any:
    """Any database but PostgreSQL: record one fire (``b_name``, ``b_fire``, ``b_now``)."""
    import sqlalchemy as sa

    fire = sa.bindparam("b_fire", type_=sa.BigInteger())
    # max() spelled portably: a replayed or out-of-order record never moves last_fire back.
    return (
        sa.update(t)
        .where(t.c.name == sa.bindparam("b_name", type_=t.c.name.type))
        .values(
            last_fire_us=sa.case(
                (t.c.last_fire_us.is_(None), fire),
                (t.c.last_fire_us < fire, fire),
                else_=t.c.last_fire_us,
            ),
            last_dispatched_at_us=sa.bindparam("b_now", type_=sa.BigInteger()),
        )
    )


def create_private_file(database: str | None, query: Any) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does it with the umask's mode.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so they are
    private too. An existing file keeps its mode: it is the owner's choice.
    """
    from taskqueue.sqlite_file import create_database_file

    if not database or database == ":memory:" or query.get("mode") == "memory":
        return
    if database.startswith("file:"):  # URI filenames: leave them to SQLite
        return
    # Never by opening the file here: a descriptor closed in a process holding SQLite
    # connections to the file drops their locks (see taskqueue.sqlite_file).
    create_database_file(Path(database), 0o600)
