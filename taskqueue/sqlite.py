"""The embedded broker: one SQLite file shared by a beat and worker processes on one host.

The default queue (``sqlite:///queue.db`` next to the config), so a single host needs no Redis.
The file, its tables and its transactions (WAL, ``BEGIN IMMEDIATE`` for every write, mode 0600)
are in :mod:`taskqueue.sqlite_schema`; this module is the :class:`~taskqueue.broker.Broker`
contract on top: each operation is one transaction, so it is atomic across processes.

Instants are float epoch seconds from ``datetime.now(UTC)``: one host, one clock (the Redis
broker's scripts use the server's clock instead, as hosts' clocks may disagree).

Leader leases (beat's HA) are rows of a ``leases`` table in the same file: the fencing check
of a fenced enqueue runs in the enqueue's own ``BEGIN IMMEDIATE`` transaction, so several beats
on one host can share the file and a stale leader can never push. The token column survives a
release or an expiry, so tokens only grow.

Claiming polls: :meth:`SQLiteBroker.claim` looks (a read, without the write lock) every 5 ms,
backing off to 50 ms, until a message is due or the timeout passes. Fine for an embedded queue;
a busy deployment wants Redis, which blocks instead.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from taskqueue.broker import (
    ACK,
    DEFAULT_DEDUPE_TTL,
    DEFAULT_RESULT_TTL,
    FINAL_STATES,
    AckAction,
    DeadLetter,
    DeadLetterAction,
    Delivery,
    EncodedMessage,
    Fence,
    LeaseHolder,
    QueueStats,
    RedeliverAction,
    RetryAction,
    Settlement,
    TaskState,
    TaskStatus,
)
from taskqueue.errors import Fenced
from taskqueue.message import Message, require_aware
from taskqueue.sqlite_schema import (
    ACK_SQL,
    BUSY_TIMEOUT,
    CLAIM_MANY,
    DEAD,
    DELAYED,
    EXTEND,
    IN_FLIGHT,
    INSERT_MESSAGES,
    PROBE,
    PROBE_WITH_EXPIRED,
    PROMOTE_DUE,
    READY,
    RECOVER_EXPIRED,
    REDELIVER,
    RELEASE,
    RETRY,
    UPSERT_DEDUPE,
    UPSERT_STATUS,
    QueueDatabase,
    consumers,
    dead_letters,
    dedupe,
    messages,
    queues,
    sqlite_path,
    statuses,
)

__all__ = ["SQLiteBroker", "sqlite_path"]

# claim() polling: start short so a message enqueued just after a miss is taken quickly, back
# off so idle workers cost little.
POLL_MIN_S = 0.005
POLL_MAX_S = 0.05
# claim() also returns expired leases to ready, at most this often per broker object: an
# indexed probe, cheap, but pointless on every poll.
RECOVER_EVERY_S = 0.05
# queue_stats: an in-flight row whose lease deadline has passed (not a stored state).
_EXPIRED_LEASE = "expired_lease"

# Expired dedupe ids, statuses and consumers are deleted at most this often per broker object.
PURGE_EVERY_S = 60.0


def _now_s() -> float:
    return datetime.now(UTC).timestamp()


def _epoch(value: datetime) -> float:
    return require_aware(value, "instant").timestamp()


def _lease_ttl_s(ttl: timedelta) -> float:
    if ttl <= timedelta(0):
        raise ValueError(f"lease ttl {ttl}: must be positive")
    return ttl.total_seconds()


def _instant(value_s: float | None) -> datetime | None:
    return None if value_s is None else datetime.fromtimestamp(value_s, UTC)


_QUEUED = TaskState.QUEUED.value
_STARTED = TaskState.STARTED.value

# The lease table, made on first use (IF NOT EXISTS: files made before leases existed get it
# too, with no schema version bump). owner is NULL once released; token never goes down.
_CREATE_LEASES = (
    "CREATE TABLE IF NOT EXISTS leases ("
    "name TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, expires_s REAL NOT NULL)"
)
_LEASE_ROW = "SELECT owner, token, expires_s FROM leases WHERE name = ?"
_NO_OUTCOME = (None, None, None, None)  # error, started_at_s, finished_at_s, expires_s


def _status_row(status: TaskStatus, now_s: float, ttl: timedelta) -> tuple[Any, ...]:
    """The statuses row of ``status`` (raises TypeError/ValueError if the result is not
    JSON); a final state expires ``ttl`` from now."""
    return (
        status.id,
        status.task,
        TaskState(status.state).value,
        status.attempts,
        json.dumps(status.result, allow_nan=False),
        status.error,
        None if status.started_at is None else _epoch(status.started_at),
        None if status.finished_at is None else _epoch(status.finished_at),
        now_s + ttl.total_seconds() if status.state in FINAL_STATES else None,
        status.deliveries,
    )


def _started_row(
    message_id: str, payload: bytes, now_s: float, deliveries: int
) -> tuple[Any, ...] | None:
    """The STARTED statuses row of a claimed payload; None if it does not name its task and
    attempt (the worker dead-letters it and records what it can)."""
    try:
        wire = json.loads(payload)
        task, attempt = wire["task"], wire["attempt"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError, RecursionError):
        return None
    if not isinstance(task, str) or not isinstance(attempt, int):
        return None
    return (message_id, task, _STARTED, attempt + 1, "null", None, now_s, None, None, deliveries)


def _delivery(row: Any, queue: str, lease_until: datetime) -> Delivery:
    """The delivery of a claimed row (CLAIM_MANY reads it back as bytes and numbers); a row
    the broker did not write as it would (id not UTF-8 text, priority not 0-9) carries the
    problem, and the worker dead-letters it."""
    problem = None
    raw_id = bytes(row.raw_id)
    try:
        message_id = raw_id.decode()
    except UnicodeDecodeError:
        message_id = raw_id.decode(errors="replace")
        problem = f"message id {raw_id!r} is not UTF-8 text"
    if row.priority_type != "integer" or not 0 <= row.priority <= 9:
        problem = problem or "priority is not an integer 0-9"
    payload = bytes(row.payload)
    return Delivery(message_id, queue, payload, row.token, lease_until, problem, row.deliveries)


class SQLiteBroker:
    """:class:`~taskqueue.broker.Broker` on a SQLite file; safe across processes and threads.

    ``url`` is ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``. The file is
    created (mode 0600) with its tables if missing. Raises BrokerUnavailable if it cannot be
    opened and BrokerError if it is not a queue database (corrupt, or another kind of file).
    A write waits up to ``busy_timeout`` for another process's write, then raises
    BrokerUnavailable.
    """

    def __init__(self, url: str, *, busy_timeout: timedelta = BUSY_TIMEOUT) -> None:
        self.url = url
        self._db = QueueDatabase(url, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._next_recover_s = 0.0
        self._next_purge_s = 0.0
        # Whether the last batch claim took something: then the next one goes straight to the
        # write transaction (more is likely waiting) instead of probing first.
        self._last_claim_hit = False
        self._leases_ready = False

    # --- producing -------------------------------------------------------------------------
    def enqueue_once(self, message: Message, *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL) -> bool:
        """Push ``message`` unless its id was seen within ``dedupe_ttl``; atomic with the push.

        A message with a future ``eta`` is held (delayed) until then. Records QUEUED.
        """
        return self.enqueue_many([message], dedupe_ttl=dedupe_ttl)[0]

    def enqueue_many(
        self, messages_: Sequence[Message], *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> list[bool]:
        """Batch form of :meth:`enqueue_once`, in one transaction; one bool per message.

        A second message with the same id in the same batch is refused like any duplicate.
        """
        encoded = [EncodedMessage.of(m) for m in messages_]  # refuse bad ones before any write
        return self.enqueue_encoded(encoded, dedupe_ttl=dedupe_ttl)

    def enqueue_encoded(
        self,
        items: Sequence[EncodedMessage],
        *,
        dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL,
        fence: Fence | None = None,
    ) -> list[bool]:
        """:meth:`enqueue_many` for messages already encoded: one transaction, executemany.

        With ``fence=(lease, token)`` the transaction first checks the lease and raises Fenced
        (nothing written) unless ``token`` is the live lease's.
        """
        if not items:
            return []
        with self._db.write() as conn:
            now_s = _now_s()
            if fence is not None:
                self._check_fence(conn, fence, now_s)
            ids = sa.func.json_each(json.dumps([m.id for m in items])).table_valued("value")
            seen = set(
                conn.execute(
                    sa.select(dedupe.c.message_id)
                    .join(ids, dedupe.c.message_id == ids.c.value)
                    .where(dedupe.c.expires_s > now_s)
                ).scalars()
            )
            pushed: list[bool] = []
            rows: list[tuple[Any, ...]] = []
            status_rows: list[tuple[Any, ...]] = []
            for m in items:
                fresh = m.id not in seen
                pushed.append(fresh)
                if not fresh:
                    continue
                seen.add(m.id)
                eta_s = None if m.eta is None else m.eta.timestamp()
                if eta_s is not None and eta_s > now_s:
                    rows.append((m.id, m.queue, m.priority, DELAYED, eta_s, eta_s, m.payload))
                else:
                    rows.append((m.id, m.queue, m.priority, READY, now_s, None, m.payload))
                status_rows.append((m.id, m.task, _QUEUED, m.attempt, "null", *_NO_OUTCOME, 0))
            if rows:
                expires_s = now_s + dedupe_ttl.total_seconds()
                conn.exec_driver_sql(UPSERT_DEDUPE, [(r[0], expires_s) for r in rows])
                conn.exec_driver_sql(INSERT_MESSAGES, rows)
                conn.exec_driver_sql(UPSERT_STATUS, status_rows)
                self._touch_queues(conn, {r[1] for r in rows}, now_s)
        return pushed

    @staticmethod
    def _touch_queues(conn: sa.Connection, names: set[str], now_s: float) -> None:
        conn.execute(
            sqlite_insert(queues).on_conflict_do_nothing(),
            [{"name": n, "created_s": now_s} for n in sorted(names)],
        )

    # --- consuming -------------------------------------------------------------------------
    def claim(
        self, queues_: Sequence[str], consumer: str, lease: timedelta, timeout: timedelta
    ) -> Delivery | None:
        """Take the best due message of the first non-empty queue in ``queues_``: the batch
        claim of one, recording no status."""
        claimed = self._claim(queues_, consumer, lease, timeout, 1, record_started=False)
        return claimed[0] if claimed else None

    def _claimable(self, names: Sequence[str]) -> bool:
        """Whether a claim could succeed now (a read, so idle pollers never block writers)."""
        now_s = _now_s()
        probe = PROBE_WITH_EXPIRED if now_s >= self._next_recover_s else PROBE
        with self._db.read() as conn:
            return bool(conn.execute(probe, {"names": list(names), "now_s": now_s}).scalar())

    def claim_many(
        self,
        queues_: Sequence[str],
        consumer: str,
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
    ) -> list[Delivery]:
        """Claim up to ``max_count`` messages, queues in order, and record each STARTED.

        Waits up to ``timeout`` by polling (5 ms, backing off to 50 ms) with a cheap read that
        takes no lock; when something looks claimable, one ``BEGIN IMMEDIATE`` transaction
        promotes due delayed messages, recovers expired leases (throttled), claims the batch
        (one UPDATE per queue tried) and upserts the STARTED statuses. A malformed row comes
        back as a delivery with its ``problem`` named.
        """
        if max_count < 1:
            raise ValueError(f"max_count: must be at least 1, got {max_count}")
        return self._claim(queues_, consumer, lease, timeout, max_count, record_started=True)

    def _claim(
        self,
        queues_: Sequence[str],
        consumer: str,
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
        *,
        record_started: bool,
    ) -> list[Delivery]:
        deadline = time.monotonic() + max(timeout.total_seconds(), 0.0)
        pause_s = POLL_MIN_S
        probe = not self._last_claim_hit
        while True:
            if not probe or self._claimable(queues_):
                claimed = self._claim_now(queues_, consumer, lease, max_count, record_started)
                self._last_claim_hit = bool(claimed)
                if claimed:
                    return claimed
            probe = True
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return []
            time.sleep(min(pause_s, remaining_s))
            pause_s = min(pause_s * 2, POLL_MAX_S)

    def _claim_now(
        self,
        names: Sequence[str],
        consumer: str,
        lease: timedelta,
        max_count: int,
        record_started: bool,
    ) -> list[Delivery]:
        claimed: list[Delivery] = []
        with self._db.write() as conn:
            now_s = _now_s()
            conn.execute(PROMOTE_DUE, {"now_s": now_s})
            if now_s >= self._next_recover_s:
                self._next_recover_s = now_s + RECOVER_EVERY_S
                self._recover(conn, now_s)
            lease_until_s = now_s + lease.total_seconds()
            lease_until = datetime.fromtimestamp(lease_until_s, UTC)
            status_rows: list[tuple[Any, ...]] = []
            for name in names:
                rows = list(
                    conn.execute(
                        CLAIM_MANY,
                        {
                            "b_queue": name,
                            "b_count": max_count - len(claimed),
                            "token_prefix": secrets.token_hex(16),
                            "b_consumer": consumer,
                            "lease_until_s": lease_until_s,
                        },
                    )
                )
                rows.sort(key=lambda r: (-r.priority, r.ready_at_s, r.seq))
                for row in rows:
                    delivery = _delivery(row, name, lease_until)
                    claimed.append(delivery)
                    if not record_started or delivery.problem is not None:
                        continue
                    started = _started_row(
                        delivery.message_id, delivery.payload, now_s, delivery.deliveries
                    )
                    if started is not None:
                        status_rows.append(started)
                if len(claimed) >= max_count:
                    break
            if status_rows:
                conn.exec_driver_sql(UPSERT_STATUS, status_rows)
        return claimed

    def settle_many(
        self, items: Sequence[Settlement], *, result_ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[bool]:
        """Settle each claimed message and record its status, all in one transaction; per
        item, False if the claim is no longer ours (then nothing of it was applied).

        Raises TypeError/ValueError, before writing anything, if a result is not JSON.
        """
        if not items:
            return []
        now_s = _now_s()
        statuses_ = [
            None if item.status is None else _status_row(item.status, now_s, result_ttl)
            for item in items
        ]
        settled: list[bool] = []
        with self._db.write() as conn:
            status_rows: list[tuple[Any, ...]] = []
            for item, status_row in zip(items, statuses_, strict=True):
                ok = self._settle_one(conn, item, now_s)
                settled.append(ok)
                if ok and status_row is not None:
                    status_rows.append(status_row)
            if status_rows:
                conn.exec_driver_sql(UPSERT_STATUS, status_rows)
            self._purge(conn, now_s)
        return settled

    def _settle_one(self, conn: sa.Connection, item: Settlement, now_s: float) -> bool:
        owned = self._claim_of(item.delivery)
        action = item.action
        if isinstance(action, AckAction):
            return bool(conn.exec_driver_sql(ACK_SQL, (item.delivery.token,)).rowcount)
        if isinstance(action, RedeliverAction):
            return bool(conn.execute(REDELIVER, owned).rowcount)
        if isinstance(action, RetryAction):
            eta_s = _epoch(action.eta)
            delayed = eta_s > now_s
            params = {
                **owned,
                "n_state": DELAYED if delayed else READY,
                "n_priority": action.message.priority,
                "n_payload": action.message.encode(),
                "n_ready_at_s": eta_s,
                "n_due_s": eta_s if delayed else None,
            }
            return bool(conn.execute(RETRY, params).rowcount)
        payload = conn.execute(DEAD, owned).scalar_one_or_none()
        if payload is None:
            return False
        conn.execute(
            sa.insert(dead_letters).values(
                message_id=item.delivery.message_id,
                queue=item.delivery.queue,
                payload=payload,
                reason=action.reason,
                at_s=now_s,
            )
        )
        return True

    @staticmethod
    def _recover(conn: sa.Connection, now_s: float) -> int:
        return int(conn.execute(RECOVER_EXPIRED, {"now_s": now_s}).rowcount)

    @staticmethod
    def _claim_of(delivery: Delivery) -> dict[str, Any]:
        """Parameters of OWNED: the row of this claim, if still ours (same token, in flight)."""
        return {"b_token": delivery.token}

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease from now; None if the claim is no longer ours (its lease ran out
        and the message was recovered or redelivered)."""
        lease_until_s = _now_s() + lease.total_seconds()
        with self._db.write() as conn:
            params = {**self._claim_of(delivery), "lease_until_s": lease_until_s}
            if not conn.execute(EXTEND, params).rowcount:
                return None
        return Delivery(
            message_id=delivery.message_id,
            queue=delivery.queue,
            payload=delivery.payload,
            token=delivery.token,
            lease_until=datetime.fromtimestamp(lease_until_s, UTC),
        )

    def ack(self, delivery: Delivery) -> bool:
        """Remove a finished message; False if the claim is no longer ours."""
        return self.settle_many([Settlement(delivery, ACK, None)])[0]

    def retry(self, delivery: Delivery, message: Message, eta: datetime) -> bool:
        """Replace the in-flight message with ``message``, delayed until ``eta`` (ready at once
        if ``eta`` has passed); False if the claim is no longer ours."""
        return self.settle_many([Settlement(delivery, RetryAction(message, eta), None)])[0]

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged and in its old place; False if not ours."""
        with self._db.write() as conn:
            return bool(conn.execute(RELEASE, self._claim_of(delivery)).rowcount)

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Move an in-flight message to its queue's dead letters with ``reason``."""
        return self.settle_many([Settlement(delivery, DeadLetterAction(reason), None)])[0]

    def recover_expired(self, now: datetime | None = None) -> int:
        """Return messages whose lease ran out (their worker died) to ready; how many."""
        now_s = _now_s() if now is None else _epoch(now)
        with self._db.write() as conn:
            return self._recover(conn, now_s)

    def now(self) -> datetime:
        """The local clock: every process using the file is on this host."""
        return datetime.now(UTC)

    # --- observing -------------------------------------------------------------------------
    def heartbeat(self, consumer: str, queues_: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues_`` for ``ttl``; its queues now exist."""
        now_s = _now_s()
        upsert = sqlite_insert(consumers)
        with self._db.write() as conn:
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[consumers.c.name],
                    set_={"queues": upsert.excluded.queues, "expires_s": upsert.excluded.expires_s},
                ),
                {
                    "name": consumer,
                    "queues": json.dumps(list(queues_)),
                    "expires_s": now_s + ttl.total_seconds(),
                },
            )
            if queues_:
                self._touch_queues(conn, set(queues_), now_s)
            self._purge(conn, now_s)

    def forget_consumer(self, consumer: str, queues_: Sequence[str]) -> None:
        """Remove ``consumer``'s heartbeat now (a clean stop), instead of letting it expire."""
        with self._db.write() as conn:
            conn.execute(sa.delete(consumers).where(consumers.c.name == consumer))

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name.

        In flight counts leases still running; leases that ran out are ``expired_lease``.
        """
        m, d = messages.c, dead_letters.c
        now_s = _now_s()
        # An in-flight row's due_s is its lease deadline: past it, the claim is dead.
        state = sa.case(
            ((m.state == IN_FLIGHT) & (m.due_s <= now_s), sa.literal(_EXPIRED_LEASE)),
            else_=m.state,
        )
        with self._db.read() as conn:
            names = set(conn.execute(sa.select(queues.c.name)).scalars())
            counts: dict[tuple[str, str], int] = {
                (q, s): n
                for q, s, n in conn.execute(
                    sa.select(m.queue, state, sa.func.count()).group_by(m.queue, state)
                )
            }
            dead: dict[str, int] = {
                q: n for q, n in conn.execute(sa.select(d.queue, sa.func.count()).group_by(d.queue))
            }
            live = conn.execute(
                sa.select(consumers.c.queues).where(consumers.c.expires_s > now_s)
            ).scalars()
            listening: dict[str, int] = {}
            for raw in live:
                for q in set(json.loads(raw)):
                    listening[q] = listening.get(q, 0) + 1
        return [
            QueueStats(
                name=q,
                ready=counts.get((q, READY), 0),
                delayed=counts.get((q, DELAYED), 0),
                in_flight=counts.get((q, IN_FLIGHT), 0),
                dead=dead.get(q, 0),
                consumers=listening.get(q, 0),
                expired_lease=counts.get((q, _EXPIRED_LEASE), 0),
            )
            for q in sorted(names | {q for q, _ in counts} | set(dead))
        ]

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The queue's dead letters, oldest first, at most ``limit``."""
        d = dead_letters.c
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(d.message_id, d.queue, d.payload, d.reason, d.at_s)
                .where(d.queue == queue)
                .order_by(d.seq)
                .limit(limit)
            ).all()
        return [
            DeadLetter(
                message_id=r.message_id,
                queue=r.queue,
                payload=r.payload,
                reason=r.reason,
                at=datetime.fromtimestamp(r.at_s, UTC),
            )
            for r in rows
        ]

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state; kept ``ttl`` after a final state, then purged lazily.

        Raises TypeError/ValueError, before writing anything, if the result is not JSON.
        """
        now_s = _now_s()
        row = _status_row(status, now_s, ttl)
        with self._db.write() as conn:
            conn.exec_driver_sql(UPSERT_STATUS, row)
            self._purge(conn, now_s)

    def get_status(self, task_id: str) -> TaskStatus | None:
        """What is known of ``task_id``; None if never seen or expired."""
        s = statuses.c
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(statuses).where(
                    s.task_id == task_id, sa.or_(s.expires_s.is_(None), s.expires_s > _now_s())
                )
            ).one_or_none()
        if row is None:
            return None
        return TaskStatus(
            id=row.task_id,
            task=row.task,
            state=TaskState(row.state),
            attempts=row.attempts,
            result=json.loads(row.result),
            error=row.error,
            started_at=_instant(row.started_at_s),
            finished_at=_instant(row.finished_at_s),
            deliveries=row.deliveries or 0,
        )

    def _purge(self, conn: sa.Connection, now_s: float) -> None:
        """Delete what has expired, at most every PURGE_EVERY_S (inside a write)."""
        if now_s < self._next_purge_s:
            return
        self._next_purge_s = now_s + PURGE_EVERY_S
        conn.execute(sa.delete(dedupe).where(dedupe.c.expires_s <= now_s))
        conn.execute(sa.delete(statuses).where(statuses.c.expires_s <= now_s))
        conn.execute(sa.delete(consumers).where(consumers.c.expires_s <= now_s))

    # --- leader leases ---------------------------------------------------------------------
    def _leases(self, conn: sa.Connection) -> None:
        if not self._leases_ready:
            conn.exec_driver_sql(_CREATE_LEASES)
            self._leases_ready = True

    def _lease_row(self, conn: sa.Connection, name: str) -> tuple[str | None, int, float] | None:
        self._leases(conn)
        row = conn.exec_driver_sql(_LEASE_ROW, (name,)).first()
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def _check_fence(self, conn: sa.Connection, fence: Fence, now_s: float) -> None:
        row = self._lease_row(conn, fence[0])
        live = row is not None and row[0] is not None and row[2] > now_s
        if not live or row is None or row[1] != fence[1]:
            holder, current = (row[0], row[1]) if live and row is not None else (None, None)
            raise Fenced(fence[0], fence[1], holder, current)

    def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> int | None:
        """Take lease ``name`` if free, expired or ``owner``'s; its fencing token, else None."""
        ttl_s = _lease_ttl_s(ttl)
        with self._db.write() as conn:
            now_s = _now_s()
            row = self._lease_row(conn, name)
            if row is not None and row[0] is not None and row[2] > now_s:
                if row[0] != owner:
                    return None
                token = row[1]
            else:
                token = (row[1] if row is not None else 0) + 1
            conn.exec_driver_sql(
                "INSERT INTO leases (name, owner, token, expires_s) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "token = excluded.token, expires_s = excluded.expires_s",
                (name, owner, token, now_s + ttl_s),
            )
            return token

    def renew_lease(self, name: str, owner: str, token: int, ttl: timedelta) -> bool:
        """Extend the lease by ``ttl`` from now; False if ``owner``/``token`` lost it."""
        ttl_s = _lease_ttl_s(ttl)
        with self._db.write() as conn:
            now_s = _now_s()
            self._leases(conn)
            updated = conn.exec_driver_sql(
                "UPDATE leases SET expires_s = ? "
                "WHERE name = ? AND owner = ? AND token = ? AND expires_s > ?",
                (now_s + ttl_s, name, owner, token, now_s),
            )
            return updated.rowcount == 1

    def release_lease(self, name: str, owner: str, token: int) -> None:
        """Give the lease up if ``owner``/``token`` hold it (the token stays for the next)."""
        with self._db.write() as conn:
            self._leases(conn)
            conn.exec_driver_sql(
                "UPDATE leases SET owner = NULL, expires_s = 0 "
                "WHERE name = ? AND owner = ? AND token = ?",
                (name, owner, token),
            )

    def lease_holder(self, name: str) -> LeaseHolder | None:
        """The live holder of lease ``name``, or None."""
        with self._db.write() as conn:  # a write: the table may have to be made first
            row = self._lease_row(conn, name)
        if row is None or row[0] is None or row[2] <= _now_s():
            return None
        return LeaseHolder(row[0], row[1], datetime.fromtimestamp(row[2], UTC))

    def ping(self) -> None:
        """Raise BrokerUnavailable (BrokerError if the file is corrupt) unless it answers."""
        with self._db.read() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(queues)).scalar_one()

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteBroker({self.url!r})"
