"""Batch delivery on SQLite: claim, keep alive, settle, recover, heartbeats.

Claiming polls: :meth:`SQLiteConsumer.claim_many` looks (a read, without the write lock) every
5 ms, backing off to 50 ms, until a message is due or the timeout passes. Fine for an embedded
queue; a busy deployment wants Redis, which blocks instead.
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

from taskqueue.broker import Consumer
from taskqueue.message import named_task
from taskqueue.records import (
    DEFAULT_RESULT_TTL,
    AckAction,
    Delivery,
    RedeliverAction,
    RetryAction,
    Settlement,
    TaskState,
)
from taskqueue.sqlite.connection import SQLiteConnection, clock_s, epoch
from taskqueue.sqlite.revocations import CREATE as REVOKED_TABLE_DDL
from taskqueue.sqlite.revocations import TABLE as REVOKED_TABLE
from taskqueue.sqlite.revocations import drop_revoked
from taskqueue.sqlite.states import status_row
from taskqueue.sqlite_schema import (
    ACK_SQL,
    CLAIM_MANY,
    DEAD,
    DELAYED,
    EXTEND,
    PROBE,
    PROBE_WITH_EXPIRED,
    PROMOTE_DUE,
    READY,
    RECOVER_EXPIRED,
    REDELIVER,
    RELEASE,
    RETRY,
    UPSERT_STATUS,
    consumers,
    dead_letters,
)

# Claim polling: start short so a message enqueued just after a miss is taken quickly, back
# off so idle workers cost little.
POLL_MIN_S = 0.005
POLL_MAX_S = 0.05
# A claim also returns expired leases to ready, at most this often per broker object: an
# indexed probe, cheap, but pointless on every poll.
RECOVER_EVERY_S = 0.05

_STARTED = TaskState.STARTED.value


def _started_row(
    message_id: str, payload: bytes, now_s: float, deliveries: int
) -> tuple[Any, ...] | None:
    """The STARTED statuses row of a claimed payload; None if it does not name its task and
    attempt (the worker dead-letters it and records what it can)."""
    named = named_task(payload)  # the message rule of what a payload names, not a copy
    if named is None:
        return None
    task, attempt = named
    row = (message_id, task, _STARTED, attempt + 1, "null", None, now_s, None, None, deliveries)
    return (*row, None)  # no details yet: the worker records them with the outcome


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


def _owned(delivery: Delivery) -> dict[str, Any]:
    """Parameters of OWNED: the row of this claim, if still ours (same token, in flight)."""
    return {"b_token": delivery.token}


def _recover(conn: sa.Connection, now_s: float) -> int:
    return int(conn.execute(RECOVER_EXPIRED, {"now_s": now_s}).rowcount)


def _settle_one(conn: sa.Connection, item: Settlement, now_s: float) -> bool:
    """Apply one settlement's action inside the transaction; False if the claim is lost."""
    owned = _owned(item.delivery)
    action = item.action
    if isinstance(action, AckAction):
        return bool(conn.exec_driver_sql(ACK_SQL, (item.delivery.token,)).rowcount)
    if isinstance(action, RedeliverAction):
        return bool(conn.execute(REDELIVER, owned).rowcount)
    if isinstance(action, RetryAction):
        eta_s = epoch(action.eta)
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


class SQLiteConsumer(SQLiteConnection, Consumer):
    """:class:`~taskqueue.broker.Consumer` on SQLite."""

    def _claimable(self, names: Sequence[str]) -> bool:
        """Whether a claim could succeed now (a read, so idle pollers never block writers)."""
        now_s = clock_s()
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
        deadline = time.monotonic() + max(timeout.total_seconds(), 0.0)
        pause_s = POLL_MIN_S
        probe = not self._last_claim_hit
        while True:
            if not probe or self._claimable(queues_):
                claimed = self._claim_now(queues_, consumer, lease, max_count)
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
        self, names: Sequence[str], consumer: str, lease: timedelta, max_count: int
    ) -> list[Delivery]:
        claimed: list[Delivery] = []
        with self._db.write() as conn:
            now_s = clock_s()
            conn.execute(PROMOTE_DUE, {"now_s": now_s})
            if now_s >= self._next_recover_s:
                self._next_recover_s = now_s + RECOVER_EVERY_S
                _recover(conn, now_s)
            lease_until_s = now_s + lease.total_seconds()
            lease_until = datetime.fromtimestamp(lease_until_s, UTC)
            status_rows: list[tuple[Any, ...]] = []
            for name in names:
                params = {
                    "b_queue": name,
                    "b_count": max_count - len(claimed),
                    "token_prefix": secrets.token_hex(16),
                    "b_consumer": consumer,
                    "lease_until_s": lease_until_s,
                }
                rows = list(conn.execute(CLAIM_MANY, params))
                rows.sort(key=lambda r: (-r.priority, r.ready_at_s, r.seq))
                deliveries = [(_delivery(row, name, lease_until), row) for row in rows]
                dropped, revoked_rows = self._drop_revoked(conn, deliveries, now_s)
                status_rows += revoked_rows
                for delivery, _ in deliveries:
                    if delivery.message_id in dropped:
                        continue
                    claimed.append(delivery)
                    started = None
                    if delivery.problem is None:
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

    def _drop_revoked(
        self, conn: sa.Connection, deliveries: list[tuple[Delivery, Any]], now_s: float
    ) -> tuple[set[str], list[tuple[Any, ...]]]:
        """Inside the claim: revoked ids are deleted, not delivered (see revocations)."""
        if not deliveries:
            return set(), []
        self._table(conn, REVOKED_TABLE, REVOKED_TABLE_DDL)
        claimed = [(d.message_id, row) for d, row in deliveries]
        return drop_revoked(conn, claimed, now_s)

    def settle_many(
        self, items: Sequence[Settlement], *, result_ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[bool]:
        """Settle each claimed message and record its status, all in one transaction; per
        item, False if the claim is no longer ours (then nothing of it was applied).

        Raises TypeError/ValueError, before writing anything, if a result is not JSON.
        """
        if not items:
            return []
        now_s = clock_s()
        statuses_ = [
            None if item.status is None else status_row(item.status, now_s, result_ttl)
            for item in items
        ]
        settled: list[bool] = []
        with self._db.write() as conn:
            status_rows: list[tuple[Any, ...]] = []
            for item, row in zip(items, statuses_, strict=True):
                ok = _settle_one(conn, item, now_s)
                settled.append(ok)
                if ok and row is not None:
                    status_rows.append(row)
            if status_rows:
                conn.exec_driver_sql(UPSERT_STATUS, status_rows)
            self._purge(conn, now_s)
        return settled

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease from now; None if the claim is no longer ours (its lease ran out
        and the message was recovered or redelivered)."""
        lease_until_s = clock_s() + lease.total_seconds()
        with self._db.write() as conn:
            params = {**_owned(delivery), "lease_until_s": lease_until_s}
            if not conn.execute(EXTEND, params).rowcount:
                return None
        return delivery.renewed(datetime.fromtimestamp(lease_until_s, UTC))

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged and in its old place; False if not ours."""
        with self._db.write() as conn:
            return bool(conn.execute(RELEASE, _owned(delivery)).rowcount)

    def recover_expired(self, now: datetime | None = None) -> int:
        """Return messages whose lease ran out (their worker died) to ready; how many."""
        now_s = clock_s() if now is None else epoch(now)
        with self._db.write() as conn:
            return _recover(conn, now_s)

    def heartbeat(self, consumer: str, queues_: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues_`` for ``ttl``; its queues now exist."""
        now_s = clock_s()
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
