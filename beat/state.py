"""Run state: per entry, the last scheduled fire disposed of, first-seen time and content hash.

Stored through SQLAlchemy in one table (``beat_entry_state``), in SQLite by default (``-s
schedule.db``) or any SQLAlchemy URL (PostgreSQL for state shared by several beats).

Instants are stored as integer microseconds since the Unix epoch (UTC): exact, portable across
databases, and cheap to compare, with no driver-specific time-zone handling to get wrong.

Durability (SQLite): WAL with ``synchronous=NORMAL``. A committed transaction survives any crash
of the *process* (the WAL is in the OS page cache, written before commit returns); only a power
loss or kernel crash may roll back the last few commits. That is safe for exactly-once: a
rolled-back record only makes beat re-plan fires that were already enqueued, and the broker
refuses those copies by their deterministic id; no fire is ever skipped by a lost record.
``FULL`` would add an fsync to every dispatch batch for no gain in that guarantee.

SQLAlchemy takes ~190 ms to import, so it is imported inside :class:`StateStore` only:
``from beat.state import EntryState`` stays cheap for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from beat import state_names as col
from beat.errors import StateCorrupt, StateError
from beat.state_epoch import chunks
from beat.state_epoch import from_epoch_us as from_epoch_us
from beat.state_epoch import to_epoch_us as to_epoch_us
from beat.state_hints import CORRUPT, hint_for
from beat.state_log import FireLog, FireRecord, log_rows
from beat.state_names import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS
from beat.state_names import normalize_url as normalize_url
from beat.state_rows import EntryState as EntryState
from beat.state_rows import Pause as Pause
from beat.state_rows import (
    StateFields,
    fields_from_rows,
    fields_of,
    pauses_from_rows,
    states_of,
)
from beat.state_sql import (
    PG_RECORD,
    PG_UPSERT,
    create_private_file,
    define_log_table,
    define_pause_table,
    define_table,
    executemany,
    record_statement,
    sqlite_pragmas,
    sqlite_upsert,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")


# Rows per fetch when reading every state: a few hundred KB of rows at a time.
_CHUNK_ROWS = 2048

# The bound parameters of a state row, in COLUMNS order.
_BOUND = tuple(f"b_{name}" for name in col.COLUMNS)


class StateStore:
    """The run state in a SQL database.

    ``url``: a SQLAlchemy URL, or a plain file path for SQLite. The table is created on first
    use. Every method is one transaction; errors are raised as :class:`StateError` naming the
    store (password redacted), what failed, and what to do about it.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        from taskqueue.urls import redact_url  # here: importing EntryState stays cheap

        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self.display_url = redact_url(url)
        self._sa_url = normalize_url(url)
        self._engine: Engine | None = None
        self._guard("open", self._open)

    # --- setup ------------------------------------------------------------------------------
    def _open(self) -> None:
        import sqlalchemy as sa

        from taskqueue.engine_fork import discard_inherited_connections

        sa_url = sa.make_url(self._sa_url)
        is_sqlite = sa_url.get_backend_name() == "sqlite"
        if is_sqlite:
            create_private_file(sa_url.database, sa_url.query)
        engine = sa.create_engine(sa_url)
        if is_sqlite:
            timeout_ms = self.busy_timeout_ms

            def pragmas(dbapi_connection: Any, _record: Any) -> None:
                sqlite_pragmas(dbapi_connection, timeout_ms)

            sa.event.listen(engine, "connect", pragmas)
        discard_inherited_connections(engine)  # a forked child opens its own connections
        self._engine = engine
        metadata = sa.MetaData()
        self.table = define_table(metadata)
        self.pause_table = define_pause_table(metadata)
        self.log_table = define_log_table(metadata)
        try:
            self._create_table()
        except sa.exc.SQLAlchemyError:
            # PostgreSQL: two beats creating the table at the same instant can both pass IF
            # NOT EXISTS and the loser fails on the catalog. The table exists now: once more.
            self._create_table()
        self._dialect = engine.dialect.name
        self.fire_log_table = FireLog(self.log_table, self._dialect)

    def _create_table(self) -> None:
        """``CREATE TABLE IF NOT EXISTS`` in one transaction: beats opening one new database
        at once all succeed, whoever creates it."""
        from sqlalchemy.schema import CreateIndex, CreateTable

        with self.engine.begin() as conn:
            for table in (self.table, self.pause_table, self.log_table):
                conn.execute(CreateTable(table, if_not_exists=True))
                for index in table.indexes:  # also on a database made before the index
                    conn.execute(CreateIndex(index, if_not_exists=True))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StateError(f"state store {self.display_url}: used after close()")
        return self._engine

    def _guard(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action``, turning database and file errors into a :class:`StateError`."""
        with self._guarded(what):
            return action()

    @contextmanager
    def _guarded(self, what: str) -> Iterator[None]:
        """Database and file errors raised in the block as a :class:`StateError`."""
        from sqlalchemy.exc import SQLAlchemyError

        # Raw DB-API errors too: reads that run on the driver's own cursor (a corrupt page in a
        # SQLite file surfaces there) are not wrapped by SQLAlchemy.
        dbapi = self._engine.dialect.dbapi if self._engine is not None else None
        dbapi_error: type[Exception] = getattr(dbapi, "Error", SQLAlchemyError)
        try:
            yield
        except (SQLAlchemyError, OSError, dbapi_error) as e:
            orig = getattr(e, "orig", None) or e
            detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(e).__name__
            hint = hint_for(detail)
            message = f"state store {self.display_url}: {what} failed: {detail}"
            error = StateCorrupt if hint.startswith(CORRUPT) else StateError
            raise error(f"{message} ({hint})" if hint else message) from e

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- reads ------------------------------------------------------------------------------
    def load(self) -> dict[str, EntryState]:
        """Every entry's state, by name."""
        with self.reading() as stored:
            return states_of(stored)

    @contextmanager
    def reading(self) -> Iterator[Iterator[StateFields]]:
        """Every entry's stored state as its fields (:class:`EntryState`'s order), read in one
        statement a chunk of rows at a time: a restart reads a million of them straight into
        the roster's records (:meth:`beat.roster.Roster.start`), never all rows at once, nor
        an EntryState per row (issue 17). Errors as every method's, raised while iterating."""
        import sqlalchemy as sa

        t = self.table
        sql = str(
            sa.select(*(t.c[name] for name in col.COLUMNS)).compile(dialect=self.engine.dialect)
        )
        with self._guarded("load"), self.engine.connect() as conn:
            # The driver's own cursor: SQLAlchemy's row objects double the cost of a large load.
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql)
                chunks = iter(partial(cursor.fetchmany, _CHUNK_ROWS), [])
                yield fields_from_rows(chunks, self.display_url)
            finally:
                cursor.close()

    def load_pauses(self) -> dict[str, Pause]:
        """Every entry's pause (or resume) by name: a small table, read by the leader every
        tick so that ``beat pause`` takes effect without a reload."""
        return self._guard("loading pauses", self._load_pauses)

    def _load_pauses(self) -> dict[str, Pause]:
        import sqlalchemy as sa

        t = self.pause_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*(t.c[name] for name in col.PAUSE_COLUMNS))).all()
        return pauses_from_rows([tuple(r) for r in rows], self.display_url)

    def set_pause(self, name: str, paused: bool, note: str, now: datetime) -> Pause | None:
        """Pause ``name`` (``note`` says why) or resume it, at ``now``; the pause as it was
        before (None: never paused). Pausing a paused entry keeps its ``since`` and replaces
        the note; resuming an entry that is not paused changes nothing."""
        return self._guard(
            f"{'pausing' if paused else 'resuming'} entry {name!r}",
            lambda: self._set_pause(name, paused, note, now),
        )

    def _set_pause(self, name: str, paused: bool, note: str, now: datetime) -> Pause | None:
        import sqlalchemy as sa

        t = self.pause_table
        with self._transaction() as conn:
            cols = (t.c[c] for c in col.PAUSE_COLUMNS)
            found = conn.execute(sa.select(*cols).where(t.c.name == name)).all()
            before = pauses_from_rows([tuple(r) for r in found], self.display_url).get(name)
            if before is None and not paused:
                return None
            if before is not None and not paused and not before.paused:
                return before
            since = before.since if before is not None and before.paused and paused else now
            values = {col.PAUSED: int(paused), col.NOTE: note, col.SINCE_US: to_epoch_us(since)}
            if before is None:
                conn.execute(sa.insert(t).values({col.NAME: name, **values}))
            else:
                conn.execute(sa.update(t).where(t.c.name == name).values(values))
            return before

    # --- writes -----------------------------------------------------------------------------
    def upsert_new(self, states: Sequence[EntryState]) -> None:
        """Insert the rows of ``states`` (new or edited entries), or update existing ones.

        An existing row keeps its ``first_seen`` and its ``last_fire`` never moves back: with
        state shared by several beats, one that indexed an entry as new a moment after another
        did must not reset the interval phase or un-record a fire. Everything else is replaced.
        """
        if not states:
            return
        # One row per name: one statement may not touch a row twice (see fields_of).
        # Rows in COLUMNS order. Instants repeat (every entry new at one start-up shares its
        # first_seen): each distinct one is converted once (issue 17: a million rows at the
        # first start).
        us: dict[datetime | None, int | None] = {None: None}

        def at(value: datetime | None) -> int | None:
            try:
                return us[value]
            except KeyError:
                found = us[value] = to_epoch_us(value)  # type: ignore[arg-type]  # not None
                return found

        rows = [
            (name, at(last), at(first), digest, at(dispatched), at(edited))
            for name, last, first, digest, dispatched, edited in fields_of(states)
        ]
        self._guard(f"saving {_entries(len(rows))}", lambda: self._upsert(rows))

    def _upsert(self, rows: list[tuple[Any, ...]]) -> None:
        import sqlalchemy as sa

        t = self.table
        with self._transaction() as conn:
            if self._dialect == "postgresql":
                names = ("name", "last", "first", "digest", "dispatched", "edited")
                columns = zip(*rows, strict=True)  # rows is never empty (see upsert_new)
                arrays = {k: list(c) for k, c in zip(names, columns, strict=True)}
                conn.exec_driver_sql(PG_UPSERT, arrays)
                return
            values = {c.name: sa.bindparam(f"b_{c.name}", type_=c.type) for c in t.columns}
            if self._dialect == "sqlite":
                executemany(conn, sqlite_upsert(t, values), rows, _BOUND)
                return
            # Any other database: delete then insert, in the same transaction (a plain replace:
            # the two protections above are not applied there).
            for chunk in chunks([r[0] for r in rows]):
                conn.execute(sa.delete(t).where(t.c.name.in_(chunk)))
            executemany(conn, sa.insert(t).values(values), rows, _BOUND)

    def record_fires(
        self,
        items: Sequence[tuple[str, datetime]],
        now: datetime,
        log: Sequence[FireRecord] = (),
    ) -> None:
        """For each ``(name, scheduled_instant)``: ``last_fire = max(stored, instant)`` and
        ``last_dispatched_at = now``, and the fire log lines ``log``, all in one transaction."""
        if not items:
            return
        now_us = to_epoch_us(now)
        # One row per name, holding its latest instant: the statement then stays correct on
        # databases whose UPDATE ... FROM picks an arbitrary row among duplicates.
        latest: dict[str, int] = {}
        for name, when in items:
            us = to_epoch_us(when)
            if latest.get(name, us) <= us:
                latest[name] = us
        rows = log_rows(log, now_us)
        self._guard(f"recording {len(latest)} fire(s)", lambda: self._record(latest, now_us, rows))

    def _record(self, latest: dict[str, int], now_us: int, log: list[dict[str, Any]]) -> None:
        if self._dialect == "postgresql":
            with self._transaction() as conn:
                # One statement over two arrays: ~30x faster than a pipelined executemany.
                result = conn.exec_driver_sql(
                    PG_RECORD,
                    {"names": list(latest), "fires": list(latest.values()), "now": now_us},
                )
                self._check_updated(len(latest), int(result.rowcount))
                self.fire_log_table.write(conn, log)
            return
        params = [{"b_name": n, "b_fire": us, "b_now": now_us} for n, us in latest.items()]
        with self._transaction() as conn:
            updated = executemany(conn, record_statement(self.table), params)
            self._check_updated(len(params), updated)
            self.fire_log_table.write(conn, log)

    def log_fires(self, log: Sequence[FireRecord], now: datetime) -> None:
        """Fire log lines alone, in one transaction (``beat backfill``, a run triggered by
        hand: no entry's state changes)."""
        if not log:
            return
        rows = log_rows(log, to_epoch_us(now))

        def write() -> None:
            with self._transaction() as conn:
                self.fire_log_table.write(conn, rows)

        self._guard(f"logging {len(rows)} fire(s)", write)

    def backfills_since(self, since: datetime) -> list[FireRecord]:
        """The fires ``beat backfill`` sent, logged at or after ``since`` (beat.overlap)."""

        def read() -> list[FireRecord]:
            with self.engine.connect() as conn:
                return self.fire_log_table.backfills_since(conn, to_epoch_us(since))

        return self._guard("reading the backfilled fires", read)

    def overlap_memory(
        self, names: Sequence[str]
    ) -> tuple[dict[str, datetime], dict[str, FireRecord]]:
        """For the entries ``names`` (those with an overlap policy): the instant of the newest
        fire in the broker (sent or duplicate), and the fire that waits (buffered, newer than
        that), from the fire log. What a new leader needs to go on deciding (beat.overlap)."""
        if not names:
            return {}, {}
        return self._guard("reading the fire log", lambda: self._overlap_memory(names))

    def _overlap_memory(
        self, names: Sequence[str]
    ) -> tuple[dict[str, datetime], dict[str, FireRecord]]:
        with self.engine.connect() as conn:
            return self.fire_log_table.overlap_memory(conn, names)

    def fire_log(self, name: str, limit: int) -> list[FireRecord]:
        """The newest ``limit`` lines of ``name``'s fire log, newest first."""
        return self._guard(f"reading the fire log of {name!r}", lambda: self._fire_log(name, limit))

    def _fire_log(self, name: str, limit: int) -> list[FireRecord]:
        with self.engine.connect() as conn:
            return self.fire_log_table.newest(conn, name, limit)

    def _check_updated(self, expected: int, updated: int) -> None:
        if 0 <= updated < expected:
            # Only possible if the row was forgotten meanwhile (another beat on shared state):
            # the fire is in the broker already; re-planning it later is refused as a duplicate.
            # logging imported here: `beat list`/`next` read the state without it (~3 ms).
            import logging

            logging.getLogger(__name__).warning(
                "state store %s: %d fire record(s) had no entry row",
                self.display_url,
                expected - updated,
            )

    def forget(self, names: Sequence[str]) -> None:
        """Delete the state of entries that no longer exist."""
        if names:
            self._guard(f"forgetting {_entries(len(names))}", lambda: self._forget(names))

    def _forget(self, names: Sequence[str]) -> None:
        import sqlalchemy as sa

        with self._transaction() as conn:
            for t in (self.table, self.pause_table, self.log_table):
                for chunk in chunks(list(names)):
                    conn.execute(sa.delete(t).where(t.c.name.in_(chunk)))

    def close(self) -> None:
        """Release every connection. Idempotent."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"
