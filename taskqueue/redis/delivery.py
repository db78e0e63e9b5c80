"""Batch delivery on Redis (the worker's hot path): claim, keep alive, settle, recover.

Time: one clock, the Redis server's. Every script that needs "now" reads it with ``TIME``
(lease deadlines, etas, recovery, heartbeats, dedupe windows); clients send durations (the
lease, a message's delay = its eta minus the sender's now), never instants of their own clock.
So a host whose clock is an hour off neither makes a live lease look expired (and its task run
twice) nor a delayed message look due; the most a sender's skew can shift is the sub-second
gap between computing a delay and sending it.

``claim_many`` pops up to N ids and records each one STARTED inside the claim script
(claim_many.lua reads the task name and attempt from the JSON payload); ``settle_many`` acks /
retries / dead-letters a batch and writes each status in the same script call (settle.lua),
only for claims still owned. A no-op task thus costs two script calls per batch instead of
four round trips per task, and one round trip with ``settle_and_claim`` (the worker's loop
settles what finished and claims the next batch in one write). The STARTED status key is not
declared in KEYS (its id is only known once popped): fine on one server or Sentinel, not on Cluster.

Blocking claims: a claim that finds nothing waits on each queue's ``notify`` list with BLPOP.
Enqueue, release, retry-due-now and lease recovery push one token; a claimer that takes a
message while more are ready pushes it on, so one token wakes blocked claimers one by one. The
wait is capped at the next delayed eta or lease deadline, and at ``MAX_BLOCK_S``, so a message
that becomes due without a push is still picked up promptly.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from taskqueue.records import (
    DEFAULT_RESULT_TTL,
    FINAL_STATES,
    AckAction,
    DeadLetterAction,
    Delivery,
    RedeliverAction,
    RetryAction,
    Settlement,
)
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection
from taskqueue.redis.states import status_fields

# Shortest wait worth a BLPOP round trip; below it the claim simply tries again.
MIN_BLOCK_S = 0.001
# A blocking claim this soon after a claim on the same queues found nothing starts with its
# BLPOP (see RedisConsumer._wait_after_empty_claim).
_FRESH_EMPTY_CLAIM_S = 0.05
# recover.lua moves at most this many per call (its STEP); a full step means call again.
RECOVER_STEP = 1_000


class _TokenPrefixes:
    """Claim token prefixes: a random base per process (so no other process's claim can share
    one) and a counter within it. Not secrets.token_hex per claim: os.urandom is a syscall that
    releases the GIL, on the worker's hot path (bench/profile_worker.py)."""

    def __init__(self) -> None:
        self._reseed()
        # A forked child must not repeat its parent's prefixes.
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._base = secrets.token_hex(12)
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._base}{next(self._count):x}"


_TOKEN_PREFIXES = _TokenPrefixes()

_ACTION_CODES = {AckAction: "a", RetryAction: "r", RedeliverAction: "l", DeadLetterAction: "d"}


def _settle_args(item: Settlement, now_ms: int, result_ttl: timedelta) -> list[Any]:
    """settle.lua's ARGV for one item (see the script); a retry's eta goes as a delay."""
    action = item.action
    args: list[Any] = [
        wire.id_bytes(item.delivery.message_id),
        item.delivery.token,
        _ACTION_CODES[type(action)],
    ]
    if isinstance(action, RetryAction):
        delay = wire.delay_ms(action.eta, now_ms)
        args += [delay, str(action.message.priority), action.message.encode()]
    elif isinstance(action, DeadLetterAction):
        args += [action.reason, "", ""]
    else:
        args += ["", "", ""]
    status = item.status
    if status is None:
        return [*args, "0", 0]
    fields = status_fields(status)
    # A final status's lifetime in ms ('0': not final): the call's own, else the default.
    final = wire.keep_ms(status.kept(result_ttl)) if status.state in FINAL_STATES else 0
    args += [str(final), 2 * len(fields)]
    for name, value in fields.items():
        args += [name, value]
    return args


def _claimed(name: str, prefix: str, reply: Any) -> tuple[list[Delivery], int]:
    """The deliveries in claim_many.lua's ``reply`` (tokens ``<prefix>-<i>``), and if there
    are none, in how many ms something becomes claimable (-1: nothing is waiting)."""
    claimed = int(reply[0])
    if claimed == 0:
        return [], int(reply[1])
    lease_until = wire.instant(int(reply[1]))
    deliveries = []
    for i in range(claimed):
        problem = reply[4 + 4 * i]
        deliveries.append(
            Delivery(
                message_id=wire.id_text(reply[2 + 4 * i]),
                queue=name,
                payload=reply[3 + 4 * i],
                token=f"{prefix}-{i + 1}",
                lease_until=lease_until,
                problem=problem.decode(errors="replace") if problem else None,
                deliveries=int(reply[5 + 4 * i]),
            )
        )
    return deliveries, -1


def _settled(n: int, by_queue: dict[str, list[int]], replies: list[Any]) -> list[bool]:
    """Per item, whether settle.lua applied it (its reply: one '1'/'0' byte per item)."""
    settled = [False] * n
    for positions, reply in zip(by_queue.values(), replies, strict=True):
        for i, flag in zip(positions, reply, strict=True):
            settled[i] = flag == 49  # ord("1")
    return settled


class RedisConsumer(RedisConnection):
    """:class:`~taskqueue.broker.Consumer` on Redis."""

    # The last claim that found nothing: (its queues, monotonic time, next_due_ms); None if
    # the last claim took something.
    _last_empty: tuple[list[str], float, int] | None = None
    # See _wire_cache.
    _packed_parts: dict[tuple[str, str], tuple[tuple[Any, ...], bytes]] | None = None

    def claim_many(
        self,
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
    ) -> list[Delivery]:
        """Claim up to ``max_count`` messages, queues in order, and record each STARTED.

        One script call per queue tried (claim_many.lua: promote, recover, pop up to the
        count, write the STARTED statuses); the next queue is tried only if the batch is not
        full. If nothing is claimable, waits on the queues' notify lists (see the module
        docstring) until ``timeout`` has passed. A malformed entry comes back as a delivery
        with its ``problem`` named. ``consumer`` is not stored: ownership is the token.
        """
        del consumer
        if max_count < 1:
            raise ValueError(f"max_count: must be at least 1, got {max_count}")
        deadline = time.monotonic() + max(timeout.total_seconds(), 0.0)
        lease_ms = int(lease.total_seconds() * 1000)
        names = list(queues)
        wait = self._wait_after_empty_claim(names, deadline)
        while True:
            next_due_ms = -1  # from now
            claimed: list[Delivery] = []
            for name in names:
                got, due = self._claim_from(name, lease_ms, max_count - len(claimed), wait)
                wait = None
                claimed += got
                if due >= 0 and (next_due_ms < 0 or due < next_due_ms):
                    next_due_ms = due
                if len(claimed) >= max_count:
                    break
            self._last_empty = None if claimed else (names, time.monotonic(), next_due_ms)
            if claimed:
                return claimed
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return []
            wait = self._wait_command(names, remaining_s, next_due_ms)

    def _wait_after_empty_claim(self, names: list[str], deadline: float) -> tuple[Any, ...] | None:
        """The BLPOP to start a blocking claim with, if a claim on these queues found nothing
        a moment ago (the worker's loop: settle_and_claim, then a blocking claim); else None
        (claim first). Skipping that second claim is safe: whatever became ready since pushed
        a notify token (enqueue, release, retry, promote, recover, requeue all do), so the
        BLPOP returns at once; what becomes due by time caps the wait (next_due_ms)."""
        last, self._last_empty = self._last_empty, None
        if last is None or last[0] != names:
            return None
        elapsed_s = time.monotonic() - last[1]
        if elapsed_s > _FRESH_EMPTY_CLAIM_S:
            return None
        due_ms = last[2] if last[2] < 0 else max(0, last[2] - int(elapsed_s * 1000))
        return self._wait_command(names, deadline - time.monotonic(), due_ms)

    def _claim_from(
        self, name: str, lease_ms: int, count: int, wait: tuple[Any, ...] | None = None
    ) -> tuple[list[Delivery], int]:
        """One claim_many.lua call on queue ``name``: what it claimed, and (if nothing) in how
        many ms something becomes claimable (-1: nothing is waiting). ``wait`` (a BLPOP) goes
        out in the same write, ahead of the claim: Redis runs the claim the moment the wait
        ends, so a woken claimer takes its message in the same round trip."""
        command, prefix = self._claim_command(name, lease_ms, count)
        commands = (command,) if wait is None else (wait, command)
        reply = self._stream_acked(commands, "claim")[-1]
        return _claimed(name, prefix, reply)

    def _claim_command(self, name: str, lease_ms: int, count: int) -> tuple[tuple[Any, ...], str]:
        """claim_many.lua's call on queue ``name``, and the token prefix it hands out."""
        prefix = _TOKEN_PREFIXES.next()
        head, packed_head = self._claim_head(name)
        tail = (lease_ms, prefix, count, self.keys.status(""))
        return wire.Packed.of((packed_head, wire.pack_args(tail)), (*head, *tail)), prefix

    def _claim_head(self, name: str) -> tuple[tuple[Any, ...], bytes]:
        """claim_many.lua's call on ``name`` up to its keys, and those bytes packed (once)."""
        cache = self._wire_cache()
        cached = cache.get(("claim", name))
        if cached is None:
            keys = (*self.keys.queue(name).script_keys, self.keys.revoked)
            head = ("EVALSHA", self._scripts["claim_many"].sha, len(keys), *keys)
            cached = cache[("claim", name)] = (head, wire.pack_args(head))
        return cached

    def _wire_cache(self) -> dict[tuple[str, str], tuple[tuple[Any, ...], bytes]]:
        """Per queue, the parts of the hot scripts' calls that never change, packed once."""
        if self._packed_parts is None:
            self._packed_parts = {}
        return self._packed_parts

    def _wait_command(
        self, names: list[str], remaining_s: float, next_due_ms: int
    ) -> tuple[Any, ...] | None:
        """The BLPOP on the queues' notify lists that waits until a push, the next due time,
        or the cap; None if that is too short to be worth it."""
        wait_s = min(remaining_s, self._max_block_s)
        if next_due_ms >= 0:
            wait_s = min(wait_s, next_due_ms / 1000 + 0.001)
        if wait_s < MIN_BLOCK_S:
            return None
        return ("BLPOP", *(self.keys.queue(n).notify for n in names), wait_s)

    def settle_many(
        self, items: Sequence[Settlement], *, result_ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[bool]:
        """Settle each claimed message and record its status: one settle.lua call per queue
        (pipelined when the batch spans queues), each atomic; per item, False if the claim
        is no longer ours (then neither its action nor its status was applied).

        Raises TypeError/ValueError, before writing anything, if a result is not JSON.
        """
        if not items:
            return []
        commands, by_queue = self._settle_commands(items, result_ttl)
        # Packed with hiredis and sent back to back on one connection (see _stream): redis-py's
        # command path cost more client time than the script itself.
        return _settled(len(items), by_queue, self._stream_acked(commands, "settle"))

    def settle_and_claim(
        self,
        items: Sequence[Settlement],
        queues: Sequence[str],
        consumer: str,
        lease: timedelta,
        max_count: int,
        *,
        result_ttl: timedelta = DEFAULT_RESULT_TTL,
    ) -> tuple[list[bool], list[Delivery]]:
        """:meth:`settle_many` then a claim that does not wait, in one round trip: the settle
        scripts and the first queue's claim script go out in one write (each script still
        atomic on its own, in that order). Later queues are tried only if the first did not
        fill the batch."""
        if max_count < 1:
            raise ValueError(f"max_count: must be at least 1, got {max_count}")
        del consumer
        names = list(queues)
        commands, by_queue = self._settle_commands(items, result_ttl)
        lease_ms = int(lease.total_seconds() * 1000)
        claim, prefix = self._claim_command(names[0], lease_ms, max_count)
        replies = self._stream_acked([*commands, claim], "settle and claim")
        settled = _settled(len(items), by_queue, replies[:-1])
        claimed, next_due_ms = _claimed(names[0], prefix, replies[-1])
        for name in names[1:]:
            if len(claimed) >= max_count:
                break
            got, due = self._claim_from(name, lease_ms, max_count - len(claimed))
            claimed += got
            if due >= 0 and (next_due_ms < 0 or due < next_due_ms):
                next_due_ms = due
        self._last_empty = None if claimed else (names, time.monotonic(), next_due_ms)
        return settled, claimed

    def _settle_commands(
        self, items: Sequence[Settlement], result_ttl: timedelta
    ) -> tuple[list[tuple[Any, ...]], dict[str, list[int]]]:
        """settle.lua's calls for ``items`` (one per queue), and each call's item positions."""
        now_ms = wire.now_ms()  # only to turn retry etas into delays
        by_queue: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_queue.setdefault(item.delivery.queue, []).append(i)
        sha = self._scripts["settle"].sha
        commands: list[tuple[Any, ...]] = []
        cache = self._wire_cache()
        for name, positions in by_queue.items():
            cached = cache.get(("settle", name))
            if cached is None:
                keys = self.keys.queue(name).script_keys
                cached = cache[("settle", name)] = (keys, wire.pack_args(keys))
            queue_keys, packed_keys = cached
            status_keys: list[bytes] = []
            args: list[Any] = [self.keys.queue(name).tag]
            for i in positions:
                item = items[i]
                message_id = item.delivery.message_id
                status_keys.append(wire.id_bytes(self.keys.status(message_id)))
                status_keys.append(wire.id_bytes(self.keys.done(message_id)))
                args.extend(_settle_args(item, now_ms, result_ttl))
            head = ("EVALSHA", sha, len(queue_keys) + len(status_keys))
            tail = (*status_keys, *args)
            parts = (wire.pack_args(head), packed_keys, wire.pack_args(tail))
            commands.append(wire.Packed.of(parts, (*head, *queue_keys, *tail)))
        return commands, by_queue

    def _in_flight(self, script: str, delivery: Delivery, *args: Any) -> int:
        queue = self.keys.queue(delivery.queue)
        message_id = wire.id_bytes(delivery.message_id)
        return int(self._run(script, queue, message_id, delivery.token, *args))

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease from now (the server's clock); None if the claim is no longer ours."""
        lease_until_ms = self._in_flight("extend", delivery, int(lease.total_seconds() * 1000))
        if not lease_until_ms:
            return None
        return delivery.renewed(wire.instant(lease_until_ms))

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged and in its old place; False if not ours."""
        return bool(self._in_flight("release", delivery))

    def recover_expired(self, now: datetime | None = None) -> int:
        """Return messages whose lease ran out (their worker died) to ready; how many.

        Expired by the server's clock. ``now`` (tests: "as if this much later") is taken
        relative to this host's clock and sent as that far ahead of the server's.
        """
        ahead_ms = 0 if now is None else wire.delay_ms(now, wire.now_ms())
        total = 0
        for name in self._queue_names():
            queue = self.keys.queue(name)
            while True:
                moved = int(self._run("recover", queue, ahead_ms))
                total += moved
                if moved < RECOVER_STEP:
                    break
        return total

    def heartbeat(self, consumer: str, queues: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues`` for ``ttl`` (from the server's now); its
        queues now exist."""
        if not queues:
            return
        with self._errors():
            self._client.sadd(self.keys.queues, *queues)
        keys = [self.keys.queue(name).consumers for name in queues]
        self._standalone_script("heartbeat", keys, consumer, wire.ttl_ms(ttl))

    def forget_consumer(self, consumer: str, queues: Sequence[str]) -> None:
        """Remove ``consumer``'s heartbeat now (a clean stop), instead of letting it expire."""
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in queues:
                pipe.zrem(self.keys.queue(name).consumers, consumer)
            pipe.execute()
