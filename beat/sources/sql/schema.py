"""Tables of the SQL schedule source, and the triggers that version every change.

One row per entry in ``beat_entries``; the columns mirror the keys of a ``schedules.yaml``
entry (nested values as JSON text), so an entry is as easy to edit with raw SQL as in YAML.

Change detection needs no cooperation from writers: the database itself stamps every insert
and update with a fresh ``version`` and records every delete in ``beat_entries_deleted``.

- PostgreSQL: a sequence and a BEFORE INSERT OR UPDATE trigger; each row also carries the
  writing transaction's id (``txid``) so a reader can tell which changes may still be
  uncommitted (see :mod:`beat.sources.sql.table`).
- SQLite: AFTER triggers bump a one-row counter table. SQLite has one writer at a time, so
  versions become visible in increasing order and a plain ``version > cursor`` read is exact.

``beat_schema`` holds the schema version; docs/sql-source.md describes the upgrade plan.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from beat.errors import SourceError
from taskqueue.engine_fork import discard_inherited_connections

# Bump when the tables change; ensure_schema refuses a database from a newer beat.
SCHEMA_VERSION = 3

metadata = sa.MetaData()

# The columns after `name` are beat.config.keys.ENTRY_KEYS (the keys of a YAML entry); JSON_COLUMNS
# hold nested values.
# pause_on_failure is JSON so that it reads back as a boolean (true/false), not as text.
JSON_COLUMNS = frozenset({"calendar", "args", "kwargs", "options", "solar", "pause_on_failure"})

entries_table = sa.Table(
    "beat_entries",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("cron", sa.Text),
    sa.Column("every", sa.Text),
    sa.Column("start", sa.Text),
    sa.Column("end", sa.Text),
    sa.Column("calendar", sa.Text),
    sa.Column("at", sa.Text),
    sa.Column("solar", sa.Text),
    sa.Column("timezone", sa.Text),
    sa.Column("queue", sa.Text),
    sa.Column("args", sa.Text),
    sa.Column("kwargs", sa.Text),
    sa.Column("options", sa.Text),
    sa.Column("catch_up", sa.Text),
    sa.Column("grace", sa.Text),
    sa.Column("jitter", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # run policies (schema version 2; added to a version 1 table by ensure_schema)
    sa.Column("overlap", sa.Text),
    sa.Column("pause_on_failure", sa.Text),
    # Set by triggers only; whatever a writer puts here is overwritten.
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    # PostgreSQL only: the writing transaction (pg_current_xact_id), for the read cursor.
    sa.Column("txid", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_beat_entries_version", "version"),
    sa.Index("ix_beat_entries_txid", "txid"),
)

deleted_table = sa.Table(
    "beat_entries_deleted",
    metadata,
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("txid", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_beat_entries_deleted_name", "name"),
    sa.Index("ix_beat_entries_deleted_txid", "txid"),
)

schema_table = sa.Table(
    "beat_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# SQLite only: the version counter the triggers bump (one row, id 1).
counter_table = sa.Table(
    "beat_version_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
)

_COUNTER = "(SELECT value FROM beat_version_counter WHERE id = 1)"

SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER IF NOT EXISTS beat_entries_ai AFTER INSERT ON beat_entries
    BEGIN
        UPDATE beat_version_counter SET value = value + 1 WHERE id = 1;
        UPDATE beat_entries SET version = {_COUNTER} WHERE name = NEW.name;
        DELETE FROM beat_entries_deleted WHERE name = NEW.name;
    END
    """,
    # The WHEN guard skips the trigger's own version write, should recursive_triggers be on.
    f"""
    CREATE TRIGGER IF NOT EXISTS beat_entries_au AFTER UPDATE ON beat_entries
    WHEN NEW.version = OLD.version OR NEW.version IS NOT {_COUNTER}
    BEGIN
        UPDATE beat_version_counter SET value = value + 1 WHERE id = 1;
        INSERT INTO beat_entries_deleted (name, version)
            SELECT OLD.name, {_COUNTER} WHERE OLD.name <> NEW.name;
        UPDATE beat_version_counter SET value = value + 1 WHERE id = 1;
        UPDATE beat_entries SET version = {_COUNTER} WHERE name = NEW.name;
        DELETE FROM beat_entries_deleted WHERE name = NEW.name;
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS beat_entries_ad AFTER DELETE ON beat_entries
    BEGIN
        UPDATE beat_version_counter SET value = value + 1 WHERE id = 1;
        INSERT INTO beat_entries_deleted (name, version) VALUES (OLD.name, {_COUNTER});
    END
    """,
)

_PG_TXID = "pg_current_xact_id()::text::bigint"

POSTGRES_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS beat_entries_version_seq",
    # SET search_path FROM CURRENT: the function finds its sequence and tables even when the
    # writer's session has another search_path.
    f"""
    CREATE OR REPLACE FUNCTION beat_entries_stamp() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
            INSERT INTO beat_entries_deleted (name, version, txid)
                VALUES (OLD.name, nextval('beat_entries_version_seq'), {_PG_TXID});
        END IF;
        DELETE FROM beat_entries_deleted WHERE name = NEW.name;
        NEW.version := nextval('beat_entries_version_seq');
        NEW.txid := {_PG_TXID};
        RETURN NEW;
    END
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION beat_entries_tombstone() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO beat_entries_deleted (name, version, txid)
            VALUES (OLD.name, nextval('beat_entries_version_seq'), {_PG_TXID});
        RETURN OLD;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS beat_entries_stamp ON beat_entries",
    """
    CREATE TRIGGER beat_entries_stamp BEFORE INSERT OR UPDATE ON beat_entries
    FOR EACH ROW EXECUTE FUNCTION beat_entries_stamp()
    """,
    "DROP TRIGGER IF EXISTS beat_entries_tombstone ON beat_entries",
    """
    CREATE TRIGGER beat_entries_tombstone AFTER DELETE ON beat_entries
    FOR EACH ROW EXECUTE FUNCTION beat_entries_tombstone()
    """,
)

# Serialises schema creation between processes starting at once (any constant works).
_PG_LOCK_KEY = 0x6265_6174_5351_4C31


def ensure_schema(engine: Engine) -> None:
    """Create the tables and triggers if missing; refuse a schema newer than this code.

    Idempotent and safe when several processes start at once.
    """
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise SourceError(
            f"SQL schedule source: {dialect} is not supported (use SQLite or PostgreSQL)"
        )
    with engine.connect() as plain, plain.execution_options(beat_immediate=True).begin():
        conn = plain
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        found = _schema_version(conn)
        if found == SCHEMA_VERSION:
            return
        if found is not None and found > SCHEMA_VERSION:
            raise SourceError(
                f"SQL schedule source: the database has schema version {found}, newer than "
                f"this beat supports ({SCHEMA_VERSION}); upgrade beat"
            )
        if found is not None:
            _upgrade(conn, found)
            return
        tables = [entries_table, deleted_table, schema_table]
        if dialect == "sqlite":
            tables.append(counter_table)
        metadata.create_all(conn, tables=tables)
        if dialect == "sqlite":
            conn.execute(sa.text("INSERT OR IGNORE INTO beat_version_counter VALUES (1, 0)"))
            for ddl in SQLITE_TRIGGERS:
                conn.exec_driver_sql(ddl)
        else:
            for ddl in POSTGRES_DDL:
                conn.exec_driver_sql(ddl)
        conn.execute(sa.delete(schema_table))
        conn.execute(sa.insert(schema_table).values(id=1, version=SCHEMA_VERSION))


# The columns each schema version added to beat_entries (all nullable text, so existing rows
# stay valid); an older database gets them in ensure_schema's transaction.
_ADDED_COLUMNS: dict[int, tuple[str, ...]] = {
    2: ("end", "solar", "jitter"),  # start/end bounds, solar schedules, jitter
    3: ("overlap", "pause_on_failure"),  # run policies
}


def _upgrade(conn: Connection, found: int) -> None:
    """Bring a database at schema version ``found`` up to :data:`SCHEMA_VERSION`."""
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for column in _ADDED_COLUMNS.get(version, ()):
            # Quoted: "end" is a reserved word in both dialects.
            conn.exec_driver_sql(f'ALTER TABLE beat_entries ADD COLUMN "{column}" TEXT')
    conn.execute(
        sa.update(schema_table).where(schema_table.c.id == 1).values(version=SCHEMA_VERSION)
    )


def _schema_version(conn: Connection) -> int | None:
    if not sa.inspect(conn).has_table("beat_schema"):
        return None
    value = conn.execute(sa.select(schema_table.c.version).where(schema_table.c.id == 1)).scalar()
    return int(value) if value is not None else None


def make_engine(url: str, *, immediate: bool = False) -> Engine:
    """An engine for the source. SQLite: WAL, a busy timeout, and with ``immediate`` every
    transaction takes the write lock up front (``BEGIN IMMEDIATE``), so a read-modify-write
    waits for another writer instead of failing with "database is locked"."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as e:
        raise SourceError(f"SQL schedule source: bad database URL: {e}") from e
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, immediate=immediate)
    discard_inherited_connections(engine)  # a forked child opens its own connections
    return engine


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: object, _record: object) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is too late).
        dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        wants_lock = immediate or conn.get_execution_options().get("beat_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if wants_lock else "BEGIN")
