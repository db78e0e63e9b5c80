"""The file of the embedded SQLite broker (:mod:`taskqueue.sqlite`): its tables (SQLAlchemy
Core), the hot statements built once, and :class:`QueueDatabase`, which opens the file (WAL,
``BEGIN IMMEDIATE`` for writes, mode 0600) and turns driver errors into broker errors that name
the file.

Instants are float epoch seconds (UTC, from one host's clock): compact, indexable and compared
with plain ``<=``. A message row moves between three states, never between tables, so every
transition is one UPDATE:

    ready      waiting; claimed in order (priority DESC, ready_at_s, seq)
    delayed    waiting for ``due_s`` (its eta); promoted to ready when due
    in_flight  leased to the claim whose ``token`` it carries, until ``due_s``

``due_s`` is "when this row needs attention": the eta of a delayed row and the lease deadline
of an in-flight one, so one index serves both promotion and recovery of expired leases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from taskqueue.engine_fork import discard_inherited_connections
from taskqueue.errors import BrokerError, BrokerUnavailable
from taskqueue.sqlite_file import create_database_file
from taskqueue.sqlite_file import sqlite_path as sqlite_path  # defined there, without SQLAlchemy

# The message states and the schema version are defined there; re-exported for the broker.
from taskqueue.sqlite_names import DELAYED as DELAYED
from taskqueue.sqlite_names import IN_FLIGHT as IN_FLIGHT
from taskqueue.sqlite_names import READY as READY
from taskqueue.sqlite_names import SCHEMA_VERSION as SCHEMA_VERSION
from taskqueue.sqlite_names import (
    Consumers,
    DeadLetters,
    Dedupe,
    Messages,
    Queues,
    Statuses,
)

metadata = sa.MetaData()

messages = sa.Table(
    Messages.TABLE,
    metadata,
    # AUTOINCREMENT: a seq is never reused, so FIFO order never goes backwards.
    sa.Column(Messages.SEQ, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(Messages.MESSAGE_ID, sa.Text, nullable=False),
    sa.Column(Messages.QUEUE, sa.Text, nullable=False),
    sa.Column(Messages.PRIORITY, sa.Integer, nullable=False),
    sa.Column(Messages.STATE, sa.Text, nullable=False),
    # When the message became (or becomes) ready: FIFO order among equal priorities. For a
    # delayed message it is its eta, so it queues behind what was ready before it was due.
    sa.Column(Messages.READY_AT_S, sa.Float, nullable=False),
    sa.Column(Messages.DUE_S, sa.Float, nullable=True),
    sa.Column(Messages.TOKEN, sa.Text, nullable=True),
    sa.Column(Messages.CONSUMER, sa.Text, nullable=True),
    sa.Column(Messages.PAYLOAD, sa.LargeBinary, nullable=False),
    # How many times the current attempt was claimed (see Delivery.deliveries).
    sa.Column(Messages.DELIVERIES, sa.Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)
sa.Index(
    "ix_messages_claim",
    messages.c.queue,
    messages.c.state,
    messages.c.priority.desc(),
    messages.c.ready_at_s,
    messages.c.seq,
)
sa.Index("ix_messages_due", messages.c.state, messages.c.due_s)
sa.Index(
    "ix_messages_token",
    messages.c.token,
    unique=True,
    sqlite_where=messages.c.token.isnot(None),
)

# Ids seen by enqueue-once, until expires_s.
dedupe = sa.Table(
    Dedupe.TABLE,
    metadata,
    sa.Column(Dedupe.MESSAGE_ID, sa.Text, primary_key=True),
    sa.Column(Dedupe.EXPIRES_S, sa.Float, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_dedupe_expires", dedupe.c.expires_s)

queues = sa.Table(
    Queues.TABLE,
    metadata,
    sa.Column(Queues.NAME, sa.Text, primary_key=True),
    sa.Column(Queues.CREATED_S, sa.Float, nullable=False),
)

dead_letters = sa.Table(
    DeadLetters.TABLE,
    metadata,
    sa.Column(DeadLetters.SEQ, sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(DeadLetters.MESSAGE_ID, sa.Text, nullable=False),
    sa.Column(DeadLetters.QUEUE, sa.Text, nullable=False),
    sa.Column(DeadLetters.PAYLOAD, sa.LargeBinary, nullable=False),
    sa.Column(DeadLetters.REASON, sa.Text, nullable=False),
    sa.Column(DeadLetters.AT_S, sa.Float, nullable=False),
)
sa.Index("ix_dead_letters_queue", dead_letters.c.queue, dead_letters.c.seq)

consumers = sa.Table(
    Consumers.TABLE,
    metadata,
    sa.Column(Consumers.NAME, sa.Text, primary_key=True),
    sa.Column(Consumers.QUEUES, sa.Text, nullable=False),  # JSON list of queue names
    sa.Column(Consumers.EXPIRES_S, sa.Float, nullable=False),
)

statuses = sa.Table(
    Statuses.TABLE,
    metadata,
    sa.Column(Statuses.TASK_ID, sa.Text, primary_key=True),
    sa.Column(Statuses.TASK, sa.Text, nullable=False),
    sa.Column(Statuses.STATE, sa.Text, nullable=False),
    sa.Column(Statuses.ATTEMPTS, sa.Integer, nullable=False),
    sa.Column(Statuses.RESULT, sa.Text, nullable=False),  # JSON
    sa.Column(Statuses.ERROR, sa.Text, nullable=True),
    sa.Column(Statuses.STARTED_AT_S, sa.Float, nullable=True),
    sa.Column(Statuses.FINISHED_AT_S, sa.Float, nullable=True),
    # NULL until the task reaches a final state; then purged lazily after this instant.
    sa.Column(Statuses.EXPIRES_S, sa.Float, nullable=True),
    sa.Column(Statuses.DELIVERIES, sa.Integer, nullable=False, server_default="0"),
    sa.Column(Statuses.DETAILS, sa.Text, nullable=True),
)
# Columns added after files were first made: _create_schema adds them to an older file.
_ADDED_COLUMNS = (
    (messages, Messages.DELIVERIES, "INTEGER NOT NULL DEFAULT 0"),
    (statuses, Statuses.DELIVERIES, "INTEGER NOT NULL DEFAULT 0"),
    (statuses, Statuses.DETAILS, "TEXT"),
)
sa.Index("ix_statuses_expires", statuses.c.expires_s)


def _driver_sql(statement: Any, columns: Sequence[str]) -> str:
    """``statement`` as SQLite SQL with ``?`` for ``columns`` in order, for executemany.

    Bulk enqueue passes plain tuples to the driver: SQLAlchemy's per-row parameter handling
    would otherwise cost more than SQLite itself (measured: 1.7 s of 2.7 s for 100,000).
    """
    compiled = statement.compile(dialect=sqlite_dialect.dialect(), column_keys=list(columns))
    assert list(compiled.positiontup) == list(columns), compiled.string
    return str(compiled.string)


_MESSAGE_COLUMNS = ("message_id", "queue", "priority", "state", "ready_at_s", "due_s", "payload")
INSERT_MESSAGES = _driver_sql(sa.insert(messages), _MESSAGE_COLUMNS)
_upsert_dedupe = sqlite_insert(dedupe)
UPSERT_DEDUPE = _driver_sql(
    _upsert_dedupe.on_conflict_do_update(
        index_elements=[dedupe.c.message_id],
        set_={"expires_s": _upsert_dedupe.excluded.expires_s},
    ),
    ("message_id", "expires_s"),
)
_STATUS_COLUMNS = tuple(c.name for c in statuses.c)
_upsert_status = sqlite_insert(statuses)
UPSERT_STATUS = _driver_sql(
    _upsert_status.on_conflict_do_update(
        index_elements=[statuses.c.task_id],
        set_={n: _upsert_status.excluded[n] for n in _STATUS_COLUMNS if n != "task_id"},
    ),
    _STATUS_COLUMNS,
)


# The hot statements, built once: constructing SQLAlchemy expressions per call cost more
# than SQLite's work (measured on claim + ack).
_m = messages.c
# A claim is its token alone (unique, random): the message id is not compared, so a row whose
# id is garbage (not UTF-8 text) can still be dead-lettered by the claim that holds it.
OWNED = sa.and_(_m.token == sa.bindparam("b_token"), _m.state == IN_FLIGHT)
PROBE = sa.select(
    sa.or_(
        sa.exists().where(_m.queue.in_(sa.bindparam("names", expanding=True)), _m.state == READY),
        sa.exists().where(
            _m.state == DELAYED,
            _m.due_s <= sa.bindparam("now_s"),
            _m.queue.in_(sa.bindparam("names", expanding=True)),
        ),
    )
)
PROBE_WITH_EXPIRED = sa.select(
    sa.or_(
        PROBE.selected_columns[0],
        sa.exists().where(_m.state == IN_FLIGHT, _m.due_s <= sa.bindparam("now_s")),
    )
)
PROMOTE_DUE = (
    sa.update(messages)
    .where(_m.state == DELAYED, _m.due_s <= sa.bindparam("now_s"))
    .values(state=READY, due_s=None)
)
# PROMOTE_DUE for one queue (beat's promotion at an instant, Producer.promote_due), and when
# the queue's next delayed message is due.
PROMOTE_QUEUE_DUE = PROMOTE_DUE.where(_m.queue == sa.bindparam("b_queue"))
NEXT_DELAYED = sa.select(sa.func.min(_m.due_s)).where(
    _m.state == DELAYED, _m.queue == sa.bindparam("b_queue")
)
RECOVER_EXPIRED = (
    sa.update(messages)
    .where(_m.state == IN_FLIGHT, _m.due_s <= sa.bindparam("now_s"))
    .values(state=READY, due_s=None, token=None, consumer=None)
)
# Claim a batch: the best ``b_count`` ready rows of a queue, each under its own token
# ("<token prefix>-<seq>": unique, as the token index requires). RETURNING does not keep the
# subquery's order, so the caller sorts by (priority DESC, ready_at_s, seq).
_best_ready_many = (
    sa.select(_m.seq)
    .where(_m.queue == sa.bindparam("b_queue"), _m.state == READY)
    .order_by(_m.priority.desc(), _m.ready_at_s, _m.seq)
    .limit(sa.bindparam("b_count", type_=sa.Integer))
)
CLAIM_MANY = (
    sa.update(messages)
    .where(_m.seq.in_(_best_ready_many))
    .values(
        state=IN_FLIGHT,
        token=sa.bindparam("token_prefix", type_=sa.Text) + "-" + sa.cast(_m.seq, sa.Text),
        consumer=sa.bindparam("b_consumer"),
        due_s=sa.bindparam("lease_until_s"),
        deliveries=_m.deliveries + 1,
    )
    # Read back as bytes and numbers whatever the row holds (SQLite columns take any type, and
    # a TEXT value that is not UTF-8 would fail to decode): the broker checks them itself.
    .returning(
        _m.seq,
        sa.cast(_m.message_id, sa.LargeBinary).label("raw_id"),
        sa.func.typeof(_m.priority).label("priority_type"),
        sa.cast(_m.payload, sa.LargeBinary).label("payload"),
        sa.cast(_m.priority, sa.Integer).label("priority"),
        sa.cast(_m.ready_at_s, sa.Float).label("ready_at_s"),
        _m.token,
        _m.deliveries,
    )
)
# Dead-letter a claimed row (settle_many): its payload as bytes, whatever it holds.
DEAD = sa.delete(messages).where(OWNED).returning(sa.cast(_m.payload, sa.LargeBinary))
# A retry settled in a batch (settle_many): the owned row becomes its next attempt.
RETRY = (
    sa.update(messages)
    .where(OWNED)
    .values(
        state=sa.bindparam("n_state"),
        priority=sa.bindparam("n_priority"),
        payload=sa.bindparam("n_payload"),
        ready_at_s=sa.bindparam("n_ready_at_s"),
        due_s=sa.bindparam("n_due_s"),
        token=None,
        consumer=None,
        deliveries=0,  # a new attempt counts its deliveries from zero
    )
)
# Put a claimed row back to ready in its old place, keeping its delivery count (a pool
# process died under it); a release at shutdown also takes back the count of its claim.
REDELIVER = (
    sa.update(messages).where(OWNED).values(state=READY, due_s=None, token=None, consumer=None)
)
RELEASE = (
    sa.update(messages)
    .where(OWNED)
    .values(
        state=READY,
        due_s=None,
        token=None,
        consumer=None,
        deliveries=sa.func.max(_m.deliveries - 1, 0),
    )
)
EXTEND = sa.update(messages).where(OWNED).values(due_s=sa.bindparam("lease_until_s"))
# ACK for the driver (settle_many's common case): parameter token. Skipping SQLAlchemy's
# per-call statement handling halves the client cost of a settled batch.
ACK_SQL = (
    f"DELETE FROM {Messages.TABLE} WHERE {Messages.TOKEN} = ? AND {Messages.STATE} = '{IN_FLIGHT}'"
)


# How long a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = timedelta(seconds=5)
_WRITE = "beat_write"  # execution option: this transaction writes, so BEGIN IMMEDIATE


class QueueDatabase:
    """The queue file, opened: transactions for reading and for writing, across processes.

    WAL (readers never block the writer), ``synchronous=NORMAL`` (a commit survives a process
    crash; a power cut may lose the last few) and a busy timeout. Write transactions start with
    ``BEGIN IMMEDIATE`` (SQLAlchemy's pysqlite recipe: the driver's own BEGIN is switched off
    and the ``begin`` event emits ours), so they take the write lock up front and wait for it,
    instead of failing with "database is locked" when a read upgrades to a write midway.
    """

    def __init__(self, url: str, *, busy_timeout: timedelta = BUSY_TIMEOUT) -> None:
        self.url = url
        self.path = sqlite_path(url).absolute()  # errors name the file unambiguously
        self._create_file()
        busy_timeout_s = busy_timeout.total_seconds()
        self._engine = sa.create_engine(
            f"sqlite+pysqlite:///{self.path}", connect_args={"timeout": busy_timeout_s}
        )
        busy_pragma = f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}"

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # pysqlite's BEGIN off; _on_begin emits ours
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(busy_pragma)
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            finally:
                cursor.close()

        event.listen(self._engine, "connect", on_connect)
        event.listen(self._engine, "begin", _on_begin)
        discard_inherited_connections(self._engine)  # a forked child opens its own
        self._create_schema()

    def _create_file(self) -> None:
        """Create the file owner-only (0600) before SQLite does; its -wal/-shm inherit that.

        Never by opening the file itself: this process may already hold SQLite connections to
        it (the worker opens several brokers), and closing any descriptor of the file would
        drop their locks (see :mod:`taskqueue.sqlite_file`).
        """
        try:
            create_database_file(self.path, 0o600)
        except OSError as e:
            raise BrokerUnavailable(self.url, f"cannot create {self.path}: {e.strerror}") from e

    def _create_schema(self) -> None:
        # Under the write lock, so processes starting together do not race to create tables.
        with self.write() as conn:
            version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
            if version > SCHEMA_VERSION:
                raise BrokerError(
                    f"sqlite queue {self.path}: schema version {version} is newer than this "
                    f"program's ({SCHEMA_VERSION})"
                )
            metadata.create_all(conn)
            for table, column, declaration in _ADDED_COLUMNS:
                have = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table.name})")}
                if column not in have:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table.name} ADD COLUMN {column} {declaration}"
                    )
            conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, committed on success."""
        with self._errors_named(), self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A deferred (read) transaction: one consistent snapshot, no lock on writers."""
        with self._errors_named(), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        """Turn driver errors into broker errors that name the file."""
        try:
            yield
        except sa.exc.OperationalError as e:
            # Cannot open, locked beyond the busy timeout, disk I/O, read-only: unreachable.
            raise BrokerUnavailable(self.url, f"{self.path}: {e.orig}") from e
        except sa.exc.DatabaseError as e:
            raise BrokerError(
                f"sqlite queue {self.path} is not a valid queue database "
                f"(corrupt, or not an SQLite file): {e.orig}"
            ) from e
        except sa.exc.DBAPIError as e:
            raise BrokerError(f"sqlite queue {self.path}: {e}") from e

    def close(self) -> None:
        self._engine.dispose()


def _on_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
