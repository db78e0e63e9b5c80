"""Read-only fast path for the run state in a SQLite file, with the standard library's
``sqlite3``: what ``beat list`` and ``beat next`` show, without importing SQLAlchemy (~175 ms,
more than the whole command may take).

:func:`read_state_file` returns what :meth:`beat.state.StateStore.load` returns on the same file
(tests compare them). It opens the file read-only (``mode=ro``): a missing file is not created
and nothing is written (not even the table the store makes on first use).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from beat import state_names as col
from beat.errors import StateError
from beat.state_hints import hint_for
from beat.state_names import BUSY_TIMEOUT_MS, normalize_url
from beat.state_rows import EntryState, Pause, pauses_from_rows, states_from_rows
from taskqueue.errors import UnknownBrokerURL
from taskqueue.redact import redact_url
from taskqueue.sqlite_file import connect_readonly, sqlite_path

__all__ = ["read_entry_file", "read_pause_file", "read_state_file", "sqlite_state_file"]

_SELECT = f"SELECT {', '.join(col.COLUMNS)} FROM {col.TABLE_NAME}"
_SELECT_PAUSES = f"SELECT {', '.join(col.PAUSE_COLUMNS)} FROM {col.PAUSE_TABLE}"
_HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
_ONE = f" WHERE {col.NAME} = ?"


def sqlite_state_file(state: str) -> Path | None:
    """The SQLite file of a state location (a plain path, or a ``sqlite:///`` URL naming a
    file as it is written), or None where the store's own URL handling is needed (another
    database, query parameters, %-escapes, an in-memory database)."""
    url = normalize_url(state)
    if not url.startswith("sqlite:///") or "?" in url or "%" in url:
        return None
    try:
        return sqlite_path(url)
    except UnknownBrokerURL:  # sqlite:///:memory: and the like
        return None


def read_state_file(path: Path, display: str | None = None) -> dict[str, EntryState]:
    """Every entry's state in the SQLite state file ``path``, by name; {} if the file or its
    table does not exist. Raises :class:`StateError` naming the store (``display``, else the
    path), the entry and the field when it cannot be read."""
    shown = redact_url(display) if display else str(path)
    (rows,) = _rows(path, shown, [(col.TABLE_NAME, _SELECT)])
    return states_from_rows(rows, shown)


def read_pause_file(path: Path, display: str | None = None) -> dict[str, Pause]:
    """Every entry's pause in the SQLite state file ``path`` (what
    :meth:`beat.state.StateStore.load_pauses` returns); {} if there is none."""
    shown = redact_url(display) if display else str(path)
    (rows,) = _rows(path, shown, [(col.PAUSE_TABLE, _SELECT_PAUSES)])
    return pauses_from_rows(rows, shown)


def read_entry_file(
    path: Path, name: str, display: str | None = None
) -> tuple[EntryState | None, Pause | None]:
    """The state and the pause of the one entry ``name`` (None where it has none), read with
    one connection and only that entry's rows: ``beat next`` on one entry of 100,000 decodes
    one row, not the table (issue 17). Errors as :func:`read_state_file`."""
    shown = redact_url(display) if display else str(path)
    queries = [(col.TABLE_NAME, _SELECT + _ONE), (col.PAUSE_TABLE, _SELECT_PAUSES + _ONE)]
    states, pauses = _rows(path, shown, queries, (name,))
    return states_from_rows(states, shown).get(name), pauses_from_rows(pauses, shown).get(name)


def _rows(
    path: Path, shown: str, queries: list[tuple[str, str]], params: tuple[Any, ...] = ()
) -> list[list[tuple[Any, ...]]]:
    """The rows of each ``(table, select)`` in ``queries``, [] for a table that does not
    exist (nor any for a missing file), read in one snapshot of one connection."""
    if not path.exists():
        return [[] for _ in queries]
    try:
        conn = connect_readonly(path, BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("BEGIN")  # one snapshot for every query
            found = [
                conn.execute(select, params).fetchall()
                if conn.execute(_HAS_TABLE, (table,)).fetchone() is not None
                else []
                for table, select in queries
            ]
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as e:
        detail = str(e).strip() or type(e).__name__
        hint = hint_for(detail)
        message = f"state store {shown}: load failed: {detail}"
        raise StateError(f"{message} ({hint})" if hint else message) from e
    return found
