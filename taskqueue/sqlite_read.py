"""Read-only fast path for the embedded SQLite queue: queue stats, one task's status and a
lease holder, with the standard library's ``sqlite3``.

For the read-only CLI commands (``beat queues``, ``beat status``, the leader line of ``beat
list``): :class:`~taskqueue.sqlite.SQLiteBroker` imports SQLAlchemy (~175 ms), more than the
whole command may take. Each function returns what the broker's method of the same name
returns on the same file (tests compare them), and:

- opens the file read-only (``mode=ro``): a missing file is not created, nothing is written
  (not even the tables or the ``leases`` table the broker makes on first use);
- reads a file without the queue's tables (made, not yet used) as empty;
- raises :class:`~taskqueue.errors.BrokerUnavailable` if the file cannot be read and
  :class:`~taskqueue.errors.BrokerError` if it is not a queue database or holds a value the
  broker never writes, naming the file, the row and the field.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from taskqueue.errors import BrokerError, BrokerUnavailable
from taskqueue.sqlite_file import connect_readonly, sqlite_path
from taskqueue.sqlite_names import (
    IN_FLIGHT,
    SCHEMA_VERSION,
    Consumers,
    DeadLetters,
    Leases,
    Messages,
    Queues,
    Statuses,
)
from taskqueue.sqlite_stats import EXPIRED_LEASE, build_queue_stats
from taskqueue.status_details import details_from_json
from taskqueue.status_records import LeaseHolder, QueueStats, TaskState, TaskStatus

__all__ = ["lease_holder", "queue_stats", "task_status", "task_statuses"]

# A reader waits for a lock only while SQLite recovers or resets the WAL: as long as the
# broker's writers wait for each other.
BUSY_TIMEOUT_S = 5.0

T = TypeVar("T")

_M, _D, _C, _S, _L = Messages, DeadLetters, Consumers, Statuses, Leases
_QUEUE_NAMES = f"SELECT {Queues.NAME} FROM {Queues.TABLE}"
# An in-flight row's due_s is its lease deadline: past it, the claim is dead.
_MESSAGE_COUNTS = (
    f"SELECT {_M.QUEUE}, CASE WHEN {_M.STATE} = '{IN_FLIGHT}' AND {_M.DUE_S} <= :now "
    f"THEN '{EXPIRED_LEASE}' ELSE {_M.STATE} END AS s, count(*) "
    f"FROM {_M.TABLE} GROUP BY {_M.QUEUE}, s"
)
_DEAD_COUNTS = f"SELECT {_D.QUEUE}, count(*) FROM {_D.TABLE} GROUP BY {_D.QUEUE}"
_LIVE_CONSUMERS = f"SELECT {_C.NAME}, {_C.QUEUES} FROM {_C.TABLE} WHERE {_C.EXPIRES_S} > :now"
# SELECT *: a file made before the deliveries column existed has none (the broker adds it).
_STATUS = (
    f"SELECT * FROM {_S.TABLE} WHERE {_S.TASK_ID} = :id "
    f"AND ({_S.EXPIRES_S} IS NULL OR {_S.EXPIRES_S} > :now)"
)
_LEASE = f"SELECT {_L.OWNER}, {_L.TOKEN}, {_L.EXPIRES_S} FROM {_L.TABLE} WHERE {_L.NAME} = :name"


def queue_stats(url: str) -> list[QueueStats]:
    """:meth:`SQLiteBroker.queue_stats`: every known queue, sorted by name; [] if the file
    does not exist."""
    with _reading(url, "queue stats") as (conn, tables):
        if conn is None:
            return []
        now = {"now": time.time()}
        names: set[Any] = set()
        counts: dict[tuple[Any, Any], int] = {}
        dead: dict[Any, int] = {}
        live: list[tuple[Any, Any]] = []
        if Queues.TABLE in tables:
            names = {q for (q,) in conn.execute(_QUEUE_NAMES)}
        if Messages.TABLE in tables:
            counts = {(q, s): n for q, s, n in conn.execute(_MESSAGE_COUNTS, now)}
        if DeadLetters.TABLE in tables:
            dead = dict(conn.execute(_DEAD_COUNTS).fetchall())
        if Consumers.TABLE in tables:
            live = conn.execute(_LIVE_CONSUMERS, now).fetchall()
    listening: dict[Any, int] = {}
    for consumer, raw in live:
        for q in _field(url, Consumers.TABLE, consumer, Consumers.QUEUES, _queue_set, raw):
            listening[q] = listening.get(q, 0) + 1
    every = names | {q for q, _ in counts} | set(dead)
    ordered = _field(url, Queues.TABLE, "*", Queues.NAME, sorted, every)
    return build_queue_stats(ordered, counts, dead, listening)


def task_status(url: str, task_id: str) -> TaskStatus | None:
    """:meth:`SQLiteBroker.get_status`: what is known of ``task_id``; None if never seen,
    expired, or the file does not exist."""
    return task_statuses(url, [task_id]).get(task_id)


def task_statuses(url: str, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
    """:func:`task_status` of many ids in one read of the file (the dashboard's entries page
    shows one outcome per row): the ids known and not expired, by id."""
    if not task_ids:
        return {}
    found: dict[str, TaskStatus] = {}
    with _reading(url, f"status of {task_ids[0]}") as (conn, tables):
        if conn is None or Statuses.TABLE not in tables:
            return {}
        now = time.time()
        records = []
        for task_id in dict.fromkeys(task_ids):
            cursor = conn.execute(_STATUS, {"id": task_id, "now": now})
            row = cursor.fetchone()
            if row is not None:
                records.append(dict(zip((d[0] for d in cursor.description), row, strict=True)))
    for record in records:
        status = status_from_record(record, url)
        found[status.id] = status
    return found


def status_from_record(record: Mapping[str, Any], url: str) -> TaskStatus:
    """A statuses row (by column name) as the broker's :class:`TaskStatus`, for the broker and
    this read-only path alike; a stored value the broker never writes is a BrokerError naming
    the file, the row and the field."""
    task_id = record[Statuses.TASK_ID]
    # A file made before the details column existed has none.
    parent_id, children, traceback, more_children = _field(
        url, Statuses.TABLE, task_id, Statuses.DETAILS, details_from_json,
        record.get(Statuses.DETAILS),
    )  # fmt: skip

    def field(name: str, convert: Callable[[Any], T]) -> T:
        return _field(url, Statuses.TABLE, task_id, name, convert, record[name])

    return TaskStatus(
        id=task_id,
        task=record[Statuses.TASK],
        state=field(Statuses.STATE, TaskState),
        attempts=record[Statuses.ATTEMPTS],
        result=field(Statuses.RESULT, _json),
        error=record[Statuses.ERROR],
        started_at=field(Statuses.STARTED_AT_S, _instant),
        finished_at=field(Statuses.FINISHED_AT_S, _instant),
        deliveries=record.get(Statuses.DELIVERIES) or 0,
        parent_id=parent_id,
        children=children,
        more_children=more_children,
        traceback=traceback,
    )


def lease_holder(url: str, name: str) -> LeaseHolder | None:
    """:meth:`SQLiteBroker.lease_holder`: the live holder of lease ``name``, or None (also
    when the file or its lease table does not exist)."""
    with _reading(url, f"lease {name}") as (conn, tables):
        if conn is None or Leases.TABLE not in tables:
            return None
        row = conn.execute(_LEASE, {"name": name}).fetchone()
    if row is None:
        return None

    def parse(row: tuple[Any, ...]) -> LeaseHolder | None:
        owner, token, expires_s = row[0], int(row[1]), float(row[2])
        if owner is None or expires_s <= time.time():
            return None
        return LeaseHolder(owner, token, datetime.fromtimestamp(expires_s, UTC))

    return _field(url, Leases.TABLE, name, f"{Leases.TOKEN}/{Leases.EXPIRES_S}", parse, row)


@contextmanager
def _reading(url: str, what: str) -> Iterator[tuple[sqlite3.Connection | None, set[str]]]:
    """One read transaction (one snapshot) on the queue file of ``url``, and the names of its
    tables; (None, empty) if the file does not exist. Driver errors become broker errors that
    name the file, as the broker's own do."""
    path = sqlite_path(url).absolute()
    if not path.exists():
        yield None, set()
        return
    try:
        conn = connect_readonly(path, BUSY_TIMEOUT_S)
    except sqlite3.Error as e:
        raise BrokerUnavailable(url, f"{path}: {e}") from e
    try:
        with _errors_named(url, path, what):
            conn.execute("BEGIN")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BrokerError(
                    f"sqlite queue {path}: schema version {version} is newer than this "
                    f"program's ({SCHEMA_VERSION})"
                )
            tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
            yield conn, tables
    finally:
        conn.close()  # rolls back the read transaction


@contextmanager
def _errors_named(url: str, path: Path, what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as e:
        # Cannot open, locked beyond the busy timeout, disk I/O: unreachable (as the broker).
        raise BrokerUnavailable(url, f"{path}: {e}") from e
    except sqlite3.DatabaseError as e:
        raise BrokerError(
            f"sqlite queue {path} is not a valid queue database "
            f"(corrupt, or not an SQLite file): {e}"
        ) from e
    except sqlite3.Error as e:
        raise BrokerError(f"sqlite queue {path}: reading {what}: {e}") from e


def _field(
    url: str, table: str, row: object, name: str, convert: Callable[[Any], T], value: Any
) -> T:
    """``convert(value)``, or a BrokerError naming the file, table, row and field whose stored
    value it could not read (garbage the broker never writes)."""
    try:
        return convert(value)
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        raise BrokerError(
            f"sqlite queue {sqlite_path(url).absolute()}: {table} row {row!r}: "
            f"{name} is not what the broker writes: {e}"
        ) from e


def _json(raw: Any) -> Any:
    return json.loads(raw)


def _queue_set(raw: Any) -> set[Any]:
    """The queues of a consumer row, as the broker counts them."""
    return set(json.loads(raw))


def _instant(value_s: float | None) -> datetime | None:
    return None if value_s is None else datetime.fromtimestamp(value_s, UTC)
