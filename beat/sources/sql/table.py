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
  Rows read twice are dropped by comparing each row's version with the version this source
  last acted on for the name.

A row that fails validation (raw SQL can write anything) is reported as a :class:`Problem`;
the caller keeps the entry's last valid form. Entries carry the redacted URL as ``source``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from beat.config.entry import SpecCache, validate_entry
from beat.config.keys import ENTRY_KEYS
from beat.entries import Entry
from beat.errors import ConfigError, Problem, SourceError
from beat.sources.sql.rows import values_to_mapping
from beat.sources.sql.schema import deleted_table, ensure_schema, entries_table, make_engine
from taskqueue.routes import Route
from taskqueue.urls import redact_url

log = logging.getLogger(__name__)

_ROW_COLUMNS = [entries_table.c.name, entries_table.c.version] + [
    entries_table.c[key] for key in ENTRY_KEYS
]


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


@dataclass
class _Known:
    """Per name, the version of the last row or tombstone this source acted on."""

    versions: dict[str, int] = field(default_factory=dict)


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
        self._known = _Known()
        # Rows that differ only by name are validated once (beat.config.entry.SpecCache).
        self._spec_cache = SpecCache()
        self._ready = False
        self._pg_snapshot: _PgSnapshot | None = None
        self._select_all = str(sa.select(*_ROW_COLUMNS).compile(dialect=self.engine.dialect))

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
        known = _Known()
        entries: dict[str, Entry] = {}
        problems: list[Problem] = []
        try:
            with self._read() as conn:
                cursor = self._cursor_now(conn)
                # Plain driver rows: no per-value result processing on 100,000 rows (the
                # decoding in values_to_mapping accepts SQLite's 0/1 for booleans). Streamed
                # (a server-side cursor on PostgreSQL): each row becomes its entry and is
                # dropped, so a million rows are never all held at once (issue 17).
                result = conn.exec_driver_sql(
                    self._select_all, execution_options={"stream_results": True}
                )
                for row in result:
                    known.versions[row.name] = row.version
                    entry = self._validate(row, problems)
                    if entry is not None:
                        entries[row.name] = entry
        except sa.exc.SQLAlchemyError as e:
            raise SourceError(f"{self.name}: cannot read entries: {_first_line(e)}") from e
        self._known = known
        return Snapshot(entries, cursor, problems)

    def changes_since(self, cursor: int) -> Changes:
        """Rows and deletes committed after ``cursor`` (from :meth:`load_all` or a previous
        call). ``removed`` may name entries the caller never had (deleted before it looked)."""
        self._ensure()
        try:
            with self._read() as conn:
                previous = self._pg_snapshot
                new_cursor = self._cursor_now(conn)
                if self._postgres:
                    row_filter = _pg_window(entries_table.c.txid, cursor, previous)
                    tomb_filter = _pg_window(deleted_table.c.txid, cursor, previous)
                else:
                    row_filter = entries_table.c.version > cursor
                    tomb_filter = deleted_table.c.version > cursor
                rows = conn.execute(sa.select(*_ROW_COLUMNS).where(row_filter)).all()
                tombs = conn.execute(
                    sa.select(deleted_table.c.name, deleted_table.c.version).where(tomb_filter)
                ).all()
        except sa.exc.SQLAlchemyError as e:
            raise SourceError(f"{self.name}: cannot read changes: {_first_line(e)}") from e
        return self._apply(rows, tombs, new_cursor)

    def _apply(self, rows: Iterable[Any], tombs: Iterable[Any], cursor: int) -> Changes:
        # Newest event per name wins; anything not newer than what was already acted on is a
        # re-read of the PostgreSQL window (or an old tombstone) and is dropped.
        latest: dict[str, tuple[int, Any]] = {}
        read = 0
        for row in rows:
            read += 1
            if row.version > latest.get(row.name, (-1, None))[0]:
                latest[row.name] = (row.version, row)
        for tomb in tombs:
            read += 1
            if tomb.version > latest.get(tomb.name, (-1, None))[0]:
                latest[tomb.name] = (tomb.version, None)
        changed: dict[str, Entry] = {}
        removed: list[str] = []
        problems: list[Problem] = []
        known = self._known.versions
        for name, (version, row) in latest.items():
            if version <= known.get(name, -1):
                continue
            known[name] = version
            if row is None:
                removed.append(name)
                continue
            entry = self._validate(row, problems)
            if entry is not None:
                changed[name] = entry
        return Changes(changed, removed, cursor, problems, read)

    def _validate(self, row: Any, problems: list[Problem]) -> Entry | None:
        name = row.name
        # Row layout: name, version, then ENTRY_KEYS (see _ROW_COLUMNS).
        mapping, bad = values_to_mapping(name, row[2:], file=self.name)
        if bad:
            problems.extend(bad)
            return None
        try:
            return validate_entry(
                name,
                mapping,
                zone=self.zone,
                defaults=self.defaults,
                source=self.name,
                file=self.name,
                routes=self.routes,
                cache=self._spec_cache,
            )
        except ConfigError as e:
            problems.extend(e.problems)
            return None

    def _read(self) -> Any:
        conn = self.engine.connect()
        if self._postgres:
            # One snapshot for the cursor and both reads.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return _ReadTx(conn)

    def _cursor_now(self, conn: Connection) -> int:
        """Taken first in the read transaction: SQLite's counter (every version visible to this
        snapshot is at most this), PostgreSQL's snapshot xmin (see the module docstring)."""
        if not self._postgres:
            query = "SELECT value FROM beat_version_counter WHERE id = 1"
            return int(conn.execute(sa.text(query)).scalar_one())
        xmin, xmax, xip = conn.execute(sa.text(_PG_SNAPSHOT)).one()
        self._pg_snapshot = _PgSnapshot(int(xmin), int(xmax), tuple(int(x) for x in xip))
        return int(xmin)


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
    """The reader's last snapshot: it saw every transaction below ``xmax`` except ``xip``."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]


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
    return sa.or_(txid >= previous.xmax, txid.in_(previous.xip))


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
