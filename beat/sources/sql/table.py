"""The SQL schedule source: entries read from ``beat_entries``, incrementally.

``load_all()`` reads every row once; ``changes_since(cursor)`` then reads only the rows and
tombstones written after the cursor, so one edit costs one row read whatever the table size.

The cursor, and why it is safe against commits arriving out of order:

- SQLite has a single writer, so versions are committed in increasing order. The cursor is the
  highest version seen and the next read is ``version > cursor``.
- PostgreSQL hands out sequence values when a statement runs, not when it commits: a writer can
  take version 10, commit after another writer's 11, and a reader that already moved its
  cursor to 11 would miss 10 forever. So the cursor is not a version but a transaction id: the
  ``xmin`` of the reader's snapshot, taken before it reads. Every transaction below ``xmin``
  has finished, so its rows are visible in this read and are never "late". Rows written by
  transactions at or above ``xmin`` (still running, or committed meanwhile) are read again at
  the next poll. The source also remembers its snapshot's ``xmax`` and in-progress list
  (``xip``), so its next read narrows to ``txid >= xmax OR txid IN (xip)``: exactly the
  transactions it could not see yet, however old the oldest open transaction in the cluster
  is. (A reader that only has the cursor, e.g. a new process, reads ``txid >= cursor``.)
  Rows read twice are dropped by what this source's previous read could see: a row or
  tombstone written by a transaction visible in that read's snapshot was acted on then. (So
  nothing is kept per entry: a million entries would otherwise hold a million versions.)
- SQLite's counterpart of the snapshot is the counter value its read saw.

A row that fails validation (raw SQL can write anything) is reported as a :class:`Problem`;
the caller keeps the entry's last valid form. Entries carry the redacted URL as ``source``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from beat.config.keys import ENTRY_KEYS
from beat.entries import Entry
from beat.errors import Problem, SourceError
from beat.sources.sql.schema import deleted_table, ensure_schema, entries_table, make_engine
from beat.sources.sql.shapes import RowDecoder
from taskqueue.routes import Route
from taskqueue.urls import redact_url

log = logging.getLogger(__name__)

# Row layout: name, version, txid, then ENTRY_KEYS (row[3:] is what RowDecoder reads).
_ROW_COLUMNS = [entries_table.c.name, entries_table.c.version, entries_table.c.txid] + [
    entries_table.c[key] for key in ENTRY_KEYS
]
# A full read's layout: name, then ENTRY_KEYS (its cursor comes from the counter or snapshot,
# not from the rows' versions, so they are not read).
_LOAD_COLUMNS = [entries_table.c.name] + [entries_table.c[key] for key in ENTRY_KEYS]
# Rows fetched per round trip at start-up (tuples, each made into its entry and dropped).
_BATCH = 1000


class Snapshot(NamedTuple):
    """Every valid entry, the cursor to pass to the next ``changes_since``, and the problems."""

    entries: dict[str, Entry]
    cursor: int
    problems: list[Problem]


class Changes(NamedTuple):
    """What changed after a cursor. ``rows_read`` counts rows and tombstones fetched."""

    changed: dict[str, Entry]
    removed: list[str]
    cursor: int
    problems: list[Problem]
    rows_read: int


class SqlSource:
    """Entries kept in a database (SQLite or PostgreSQL) through SQLAlchemy.

    ``zone`` and ``defaults`` play the part of ``schedules.yaml``'s ``timezone`` and
    ``defaults``. Tables and triggers are created on first use.
    """

    def __init__(
        self,
        url: str,
        *,
        zone: ZoneInfo,
        defaults: Mapping[str, Any] | None = None,
        engine: Engine | None = None,
        routes: Sequence[Route] = (),
    ) -> None:
        self.url = url
        # The configuration's `routes:`, applied to rows as to YAML entries.
        self.routes = tuple(routes)
        self.name = redact_url(url)
        self.zone = zone
        self.defaults: Mapping[str, Any] = dict(defaults or {})
        self.engine = engine if engine is not None else make_engine(url)
        self._postgres = self.engine.dialect.name == "postgresql"
        self._ready = False
        # What the last successful read saw (None before the first): see the module doc.
        self._seen: _Seen | None = None
        self._select_all = str(sa.select(*_LOAD_COLUMNS).compile(dialect=self.engine.dialect))

    def close(self) -> None:
        self.engine.dispose()

    def _ensure(self) -> None:
        if not self._ready:
            try:
                ensure_schema(self.engine)
            except sa.exc.SQLAlchemyError as e:
                raise SourceError(
                    f"{self.name}: cannot open the schedule source: {_first_line(e)}"
                ) from e
            self._ready = True

    # --- reading ----------------------------------------------------------------------------
    def load_all(self) -> Snapshot:
        """Every entry; invalid rows are left out and reported."""
        self._ensure()
        entries: dict[str, Entry] = {}
        problems: list[Problem] = []
        decoder = self._decoder()
        try:
            with self._read() as conn:
                cursor, seen = self._cursor_now(conn)
                # Plain driver rows: no per-value result processing on a million rows (the
                # decoding in values_to_mapping accepts SQLite's 0/1 for booleans). Streamed
                # (a server-side cursor on PostgreSQL) in batches: each row becomes its entry
                # and is dropped, so a million rows are never all held at once (issue 17).
                result = conn.exec_driver_sql(
                    self._select_all, execution_options={"stream_results": True}
                )
                for batch in result.partitions(_BATCH):
                    decoder.add_rows(batch, entries, problems)
        except sa.exc.SQLAlchemyError as e:
            raise SourceError(f"{self.name}: cannot read entries: {_first_line(e)}") from e
        self._seen = seen
        return Snapshot(entries, cursor, problems)

    def changes_since(self, cursor: int) -> Changes:
        """Rows and deletes committed after ``cursor`` (from :meth:`load_all` or a previous
        call). ``removed`` may name entries the caller never had (deleted before it looked)."""
        self._ensure()
        try:
            with self._read() as conn:
                previous = self._seen
                new_cursor, seen = self._cursor_now(conn)
                if self._postgres:
                    pg = previous if isinstance(previous, _PgSnapshot) else None
                    row_filter = _pg_window(entries_table.c.txid, cursor, pg)
                    tomb_filter = _pg_window(deleted_table.c.txid, cursor, pg)
                else:
                    row_filter = entries_table.c.version > cursor
                    tomb_filter = deleted_table.c.version > cursor
                rows = conn.execute(sa.select(*_ROW_COLUMNS).where(row_filter)).all()
                tombs = conn.execute(
                    sa.select(
                        deleted_table.c.name, deleted_table.c.version, deleted_table.c.txid
                    ).where(tomb_filter)
                ).all()
        except sa.exc.SQLAlchemyError as e:
            raise SourceError(f"{self.name}: cannot read changes: {_first_line(e)}") from e
        changes = self._apply(rows, tombs, new_cursor, previous)
        # Only now: a read that failed half-way saw nothing (its snapshot must not narrow
        # the next read's window, nor mark rows as already acted on).
        self._seen = seen
        return changes

    def _apply(
        self, rows: Iterable[Any], tombs: Iterable[Any], cursor: int, previous: _Seen | None
    ) -> Changes:
        # Newest event per name wins; if the previous read could already see it, it is a
        # re-read of the PostgreSQL window (or of a cursor older than that read) and is dropped.
        latest: dict[str, tuple[int, int, Any]] = {}
        read = 0
        for row in rows:
            read += 1
            if row.version > latest.get(row.name, (-1, 0, None))[0]:
                latest[row.name] = (row.version, row.txid, row)
        for tomb in tombs:
            read += 1
            if tomb.version > latest.get(tomb.name, (-1, 0, None))[0]:
                latest[tomb.name] = (tomb.version, tomb.txid, None)
        changed: dict[str, Entry] = {}
        removed: list[str] = []
        problems: list[Problem] = []
        decoder = self._decoder()
        for name, (version, txid, row) in latest.items():
            if previous is not None and previous.saw(version, txid):
                continue
            if row is None:
                removed.append(name)
                continue
            entry = decoder.entry(name, tuple(row[3:]), problems)
            if entry is not None:
                changed[name] = entry
        return Changes(changed, removed, cursor, problems, read)

    def _decoder(self) -> RowDecoder:
        # One per read: what a read validated is dropped with it (a source lives as long as
        # the daemon; what it validated at start-up need not).
        return RowDecoder(
            self.name,
            zone=self.zone,
            defaults=self.defaults,
            routes=self.routes,
        )

    def _read(self) -> Any:
        conn = self.engine.connect()
        if self._postgres:
            # One snapshot for the cursor and both reads.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return _ReadTx(conn)

    def _cursor_now(self, conn: Connection) -> tuple[int, _Seen]:
        """Taken first in the read transaction: SQLite's counter (every version visible to this
        snapshot is at most this), PostgreSQL's snapshot xmin (see the module docstring); and
        what this read sees."""
        if not self._postgres:
            query = "SELECT value FROM beat_version_counter WHERE id = 1"
            counter = int(conn.execute(sa.text(query)).scalar_one())
            return counter, _SqliteSeen(counter)
        xmin, xmax, xip = conn.execute(sa.text(_PG_SNAPSHOT)).one()
        snapshot = _PgSnapshot(int(xmin), int(xmax), frozenset(int(x) for x in xip))
        return snapshot.xmin, snapshot


_PG_SNAPSHOT = """
    SELECT pg_snapshot_xmin(s)::text::bigint,
           pg_snapshot_xmax(s)::text::bigint,
           ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x)
    FROM (SELECT pg_current_snapshot() AS s) AS snap
"""
# Above this many transactions in progress, read the whole window instead of listing them.
_MAX_XIP = 1000


@dataclass(frozen=True, slots=True)
class _PgSnapshot:
    """A read's snapshot: it saw every transaction below ``xmax`` except ``xip``."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    def saw(self, version: int, txid: int) -> bool:
        return txid < self.xmin or (txid < self.xmax and txid not in self.xip)


@dataclass(frozen=True, slots=True)
class _SqliteSeen:
    """A SQLite read saw every version up to the counter it read (one writer at a time)."""

    counter: int

    def saw(self, version: int, txid: int) -> bool:
        return version <= self.counter


_Seen = _PgSnapshot | _SqliteSeen


def _pg_window(
    txid: sa.ColumnElement[int], cursor: int, previous: _PgSnapshot | None
) -> sa.ColumnElement[bool]:
    """The rows a PostgreSQL read after ``cursor`` must look at.

    Always safe: every transaction at or above the cursor (the last snapshot's xmin). Exact
    when this source took that snapshot itself: only transactions that were still running then
    (``xip``) or started after it (``>= xmax``); everything else was already visible and read.
    """
    if previous is None or previous.xmin != cursor or len(previous.xip) > _MAX_XIP:
        return txid >= cursor
    if not previous.xip:
        return txid >= previous.xmax
    return sa.or_(txid >= previous.xmax, txid.in_(sorted(previous.xip)))


class _ReadTx:
    """A read-only transaction that always ends with a rollback (nothing to commit)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def _first_line(error: BaseException) -> str:
    """The driver's own message, one line: SQLAlchemy's str() adds the statement and a
    "Background on this error" link, which have no place in an error line or a log line."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(error).__name__
