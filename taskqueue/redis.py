"""The Redis broker: the production queue, shared by many beats and workers on many hosts.

Each operation on a queue is one Lua script (``taskqueue/lua/*.lua``, loaded with
``register_script``: EVALSHA, and a reload if the server lost its script cache), so it is
atomic. All of a queue's keys share one hash tag (see :mod:`taskqueue.keys`), so each script
stays in one Redis Cluster slot.

Time: one clock, the Redis server's. Every script that needs "now" reads it with ``TIME``
(lease deadlines, etas, recovery, heartbeats, dedupe windows); clients send durations (the
lease, a message's delay = its eta minus the sender's now), never instants of their own clock.
So a host whose clock is an hour off neither makes a live lease look expired (and its task run
twice) nor a delayed message look due; the most a sender's skew can shift is the sub-second
gap between computing a delay and sending it. :meth:`RedisBroker.now` is the server's clock.

Blocking claims: a claim that finds nothing waits on each queue's ``notify`` list with BLPOP.
Enqueue, release, retry-due-now and lease recovery push one token; a claimer that takes a
message while more are ready pushes it on, so one token wakes blocked claimers one by one. The
wait is capped at the next delayed eta or lease deadline, and at ``MAX_BLOCK_S``, so a message
that becomes due without a push is still picked up promptly.

Enqueue-once: an id is refused while its message is in the queue (ready, delayed or in
flight), and once it is done (acked or dead-lettered) for between one and two dedupe TTLs: ids
are remembered in per-queue sets, one per TTL-long window, when their message leaves (see
enqueue.lua). So the TTL counts from when the task finished, not from the enqueue, and an id
is never forgotten while its message waits. Done ids are filed under their TTL, so a sender
must use one TTL for an id (beat does). The dedupe is per queue (one slot): the same id
sent to two queues in two calls is accepted by both; within one call it is not.

Task statuses are kept lazily: enqueue writes no status (it would double the writes of a beat
burst). ``get_status`` of an id with no status record looks the message up in the known queues
and reports it QUEUED; workers record every later state. A status left from an earlier message
with the same id (sent again after its dedupe window) shows until the worker records anew.

Batch delivery (the worker's hot path): ``claim_many`` pops up to N ids and records each one
STARTED inside the claim script (claim_many.lua reads the task name and attempt from the JSON
payload); ``settle_many`` acks / retries / dead-letters a batch and writes each status in the
same script call (settle.lua), only for claims still owned. A no-op task thus costs two
script calls per batch instead of four round trips per task. The STARTED status key is not
declared in KEYS (its id is only known once popped): fine on one server or Sentinel, not on
Cluster.

Leader leases (beat's HA): ``<prefix>:lease:{<name>}`` is a HASH (owner, token) that expires
with the lease (Redis's PEXPIRE, so only the server's clock decides expiry), and
``<prefix>:lease:{<name>}:fence`` the counter that hands out fencing tokens. A fenced enqueue
reads the lease in the same script call as the push. That needs the lease key and the queue's
keys on one node: true for a single Redis and for Sentinel (one primary), not for Cluster,
where the lease and the queue sit in different slots and the script would be refused.

Cluster: keys are Cluster-ready, but this class uses a plain ``redis.Redis`` client, and a claim
over several queues BLPOPs their notify lists together (several slots); a Cluster deployment
would claim from one queue per call.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from hiredis import pack_command
from redis.commands.core import Script

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
from taskqueue.errors import BrokerDataError, BrokerError, BrokerUnavailable, DecodeError, Fenced
from taskqueue.keys import DEFAULT_PREFIX, QUEUE_KEY_TYPES, KeySpace, QueueKeys
from taskqueue.message import Message, require_aware
from taskqueue.redact import redact_url

__all__ = ["RedisBroker"]

# Messages per enqueue script call. Measured with bench/bench_enqueue.py (100,000 fires, 2-core
# machine, Redis 7 on loopback): one call per message, streamed, 3.0 s; 100 per call 0.58 s;
# 1,000 per call 0.47 s; 5,000 per call no faster (0.65 s) and Redis blocked longer per call.
ENQUEUE_CHUNK = 1_000
# Longest single BLPOP of a claim: a backstop for wake-ups no one pushes (a lease expiring).
MAX_BLOCK_S = 1.0
# Shortest wait worth a BLPOP round trip; below it the claim simply tries again.
MIN_BLOCK_S = 0.001
# recover.lua moves at most this many per call (its STEP); a full step means call again.
RECOVER_STEP = 1_000

_SCRIPTS = ("enqueue", "claim_many", "extend", "release", "settle", "recover")
# Scripts that stand alone (no queue keys, so no _lib.lua).
_LEASE_SCRIPTS = ("lease_acquire", "lease_renew", "lease_release", "heartbeat")
# Reload-and-retry rounds for an EVALSHA answered NOSCRIPT (see _stream).
_NOSCRIPT_TRIES = 3
# enqueue.lua's error reply for a stale fencing token: "FENCED <current token>\t<holder>".
_FENCED = "FENCED "


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wire(text: str) -> bytes:
    """A message id as Redis holds it: ids read back from Redis are decoded with
    surrogateescape (garbage in the store need not be UTF-8), so they round-trip exactly."""
    return text.encode("utf-8", "surrogateescape")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _ms(value: datetime) -> int:
    return int(require_aware(value, "instant").timestamp() * 1000)


def _ttl_ms(ttl: timedelta) -> int:
    ttl_ms = int(ttl.total_seconds() * 1000)
    if ttl_ms <= 0:
        raise ValueError(f"lease ttl {ttl}: must be positive")
    return ttl_ms


def _instant(value_ms: int) -> datetime:
    return datetime.fromtimestamp(value_ms / 1000, UTC)


def _pack(command: tuple[Any, ...]) -> list[bytes]:
    """The wire bytes of ``command`` (as send_packed_command takes them): hiredis's packer
    called directly (redis-py's wrapper inspects every argument in Python first: a tenth of a
    burst's client time)."""
    packed: bytes = pack_command(command)
    return [packed]


def _delay_ms(eta: datetime, now_ms: int) -> int:
    """How long from now (this host's clock) ``eta`` is, in ms (0 if it has passed): what a
    script adds to the server's clock."""
    return max(0, _ms(eta) - now_ms)


def _delays(items: Sequence[EncodedMessage], now_ms: int) -> str:
    """enqueue.lua's ARGV[2]: the delays in ms, comma-separated; '' if none has an eta."""
    if all(item.eta is None for item in items):
        return ""
    return ",".join("" if i.eta is None else str(_delay_ms(i.eta, now_ms)) for i in items)


_ACTION_CODES = {AckAction: "a", RetryAction: "r", RedeliverAction: "l", DeadLetterAction: "d"}


def _status_fields(status: TaskStatus) -> dict[str, str | int]:
    """The status hash of ``status`` (raises TypeError/ValueError if the result is not JSON)."""
    fields: dict[str, str | int] = {
        "task": status.task,
        "state": TaskState(status.state).value,
        "attempts": status.attempts,
        "result": json.dumps(status.result, allow_nan=False),
    }
    if status.error is not None:
        fields["error"] = status.error
    if status.started_at is not None:
        fields["started_at_ms"] = _ms(status.started_at)
    if status.finished_at is not None:
        fields["finished_at_ms"] = _ms(status.finished_at)
    if status.deliveries:
        fields["deliveries"] = status.deliveries
    return fields


def _settle_args(item: Settlement, now_ms: int) -> list[Any]:
    """settle.lua's ARGV for one item (see the script); a retry's eta goes as a delay."""
    action = item.action
    args: list[Any] = [
        _wire(item.delivery.message_id),
        item.delivery.token,
        _ACTION_CODES[type(action)],
    ]
    if isinstance(action, RetryAction):
        delay = _delay_ms(action.eta, now_ms)
        args += [delay, str(action.message.priority), action.message.encode()]
    elif isinstance(action, DeadLetterAction):
        args += [action.reason, "", ""]
    else:
        args += ["", "", ""]
    status = item.status
    if status is None:
        return [*args, "0", 0]
    fields = _status_fields(status)
    args += ["1" if status.state in FINAL_STATES else "0", 2 * len(fields)]
    for name, value in fields.items():
        args += [name, value]
    return args


def _load_scripts(client: Any) -> dict[str, Script]:
    # Next to this module (package data): not importlib.resources, which can resolve a
    # same-named test directory first.
    lua = Path(__file__).with_name("lua")
    lib = (lua / "_lib.lua").read_text()
    return {
        name: client.register_script(lib + (lua / f"{name}.lua").read_text()) for name in _SCRIPTS
    }


class RedisBroker:
    """:class:`~taskqueue.broker.Broker` on Redis (``redis://``, ``rediss://``, ``unix://``).

    ``url`` may carry a user and password (``redis://user:pw@host:6379/0``) and a database
    index; ``self.url`` is the URL with the password redacted. Connections are made lazily and
    shared by threads; a forked child opens its own (redis-py's pool checks the pid).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: timedelta = timedelta(seconds=5),
        enqueue_chunk: int = ENQUEUE_CHUNK,
    ) -> None:
        self.url = redact_url(url)
        self.keys = KeySpace(prefix)
        self._enqueue_chunk = max(1, enqueue_chunk)
        timeout_s = socket_timeout.total_seconds()
        # A blocking claim must return before the socket gives up on it.
        self._max_block_s = min(MAX_BLOCK_S, timeout_s / 2)
        try:
            # Typed Any: redis-py's stubs answer every command with a union (sync or async,
            # bytes or str); with decode_responses=False every reply here is bytes.
            self._client: Any = redis.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                decode_responses=False,
            )
        except ValueError as e:  # a malformed URL (bad port, bad database index)
            raise BrokerError(f"redis broker {self.url}: invalid URL: {e}") from e
        self._scripts = _load_scripts(self._client)
        self._lease_scripts: dict[str, Script] | None = None  # loaded on first use
        self._scripts_loaded = False

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py errors into broker errors that name the (redacted) URL."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise BrokerUnavailable(self.url, str(e) or type(e).__name__) from e
        except redis.RedisError as e:
            if "WRONGTYPE" in str(e):
                raise self._wrong_type(e) from e
            raise BrokerError(f"redis broker {self.url}: {e}") from e

    def _expected_type(self, key: str) -> str | None:
        """The Redis type ``key`` must have; None if it is not one of ours."""
        if key == self.keys.queues:
            return "set"
        if key.startswith(self.keys.status("")):
            return "hash"
        if key.startswith(f"{self.keys.prefix}:lease:"):
            return "string" if key.endswith(":fence") else "hash"
        head, sep, name = key.rpartition("}:")
        if not sep or not head.startswith(f"{self.keys.prefix}:{{q:"):
            return None
        return "set" if name.startswith("seen:") else QUEUE_KEY_TYPES.get(name)

    def _wrong_type(self, error: redis.RedisError) -> BrokerDataError:
        """Name the key of the wrong type (Redis's WRONGTYPE reply does not): every key of
        every known queue is checked. Garbage no retry will fix, so one clear line."""
        found: list[str] = []
        try:
            keys = [self.keys.queues]
            if self._client.type(self.keys.queues) == b"set":
                for name in sorted(self._client.smembers(self.keys.queues)):
                    keys.extend(self.keys.queue(_text(name)).script_keys)
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
            for key, kind in zip(keys, pipe.execute(), strict=True):
                expected = self._expected_type(key)
                if kind not in (b"none", (expected or "").encode()):
                    found.append(f"key {key} holds a {kind.decode()}, expected a {expected}")
        except redis.RedisError as e:
            found.append(f"(could not look for the key: {e})")
        where = "; ".join(found) or "a status or dedupe key holds the wrong type"
        return BrokerDataError(
            f"redis broker {self.url}: {where} (WRONGTYPE: {error}); repair or delete it"
        )

    def _run(self, script: str, queue: QueueKeys, *args: Any) -> Any:
        with self._errors():
            return self._scripts[script](keys=queue.script_keys, args=args, client=self._client)

    # --- producing -------------------------------------------------------------------------
    def enqueue_once(self, message: Message, *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL) -> bool:
        """Push ``message`` unless its id is still queued or was done within ``dedupe_ttl``.

        Atomic with the push (one script). A future ``eta`` holds it in the delayed set. A
        done id is remembered for at least ``dedupe_ttl`` and at most twice it.
        """
        return self.enqueue_encoded([EncodedMessage.of(message)], dedupe_ttl=dedupe_ttl)[0]

    def enqueue_many(
        self, messages: Sequence[Message], *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> list[bool]:
        """Batch form of :meth:`enqueue_once`; one bool per message, in order."""
        encoded = [EncodedMessage.of(m) for m in messages]  # refuse bad ones before any write
        return self.enqueue_encoded(encoded, dedupe_ttl=dedupe_ttl)

    def enqueue_encoded(
        self,
        items: Sequence[EncodedMessage],
        *,
        dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL,
        fence: Fence | None = None,
    ) -> list[bool]:
        """Enqueue-once for pre-encoded messages: one script call per chunk of one queue.

        With ``fence=(lease, token)`` every script call first checks the lease's token (no
        extra round trip) and pushes nothing of its chunk if it is stale; Fenced is raised
        once every reply is read. Tokens only grow, so once one chunk is fenced every later
        chunk is too; earlier chunks were pushed while the sender still held the lease.

        A later copy of an id within ``items`` is refused here, so each script sees an id once.
        The calls are streamed on one connection (not a transaction): each is sent as soon as
        it is packed, so Redis runs chunk k while chunk k+1 is being packed, and the replies
        are read at the end. Each message is atomic; a failure part-way leaves earlier chunks
        pushed, which a retry of the batch refuses as duplicates.
        """
        if not items:
            return []
        ttl_ms = max(1, int(dedupe_ttl.total_seconds() * 1000))
        pushed = [False] * len(items)
        by_queue: dict[str, list[int]] = {}
        if len({item.id for item in items}) == len(items):  # the usual case: no copies
            for i, item in enumerate(items):
                by_queue.setdefault(item.queue, []).append(i)
        else:
            first_of: dict[str, int] = {}
            for i, item in enumerate(items):
                if first_of.setdefault(item.id, i) == i:
                    by_queue.setdefault(item.queue, []).append(i)
        chunks: list[tuple[list[int], QueueKeys]] = [
            (positions[start : start + self._enqueue_chunk], self.keys.queue(name))
            for name, positions in by_queue.items()
            for start in range(0, len(positions), self._enqueue_chunk)
        ]

        # The msg hash value: "<priority digit><dedupe TTL ms>:<payload>" (see _lib.lua).
        prefixes = [f"{p}{ttl_ms}:".encode() for p in range(10)]
        fence_keys: tuple[str, ...] = ()
        fence_token = ""
        if fence is not None:
            fence_keys = (self._lease_keys(fence[0])[0],)
            fence_token = str(fence[1])

        def calls() -> Iterator[tuple[Any, ...]]:
            # Registered before the messages land, so queue_stats never misses a queue.
            yield ("SADD", self.keys.queues, *by_queue)
            for chunk, queue in chunks:
                chosen = [items[i] for i in chunk]
                pairs: list[Any] = [None] * (2 * len(chosen))
                pairs[0::2] = [item.id for item in chosen]
                pairs[1::2] = [prefixes[item.priority] + item.payload for item in chosen]
                yield (
                    "EVALSHA",
                    self._scripts["enqueue"].sha,
                    len(queue.script_keys) + len(fence_keys),
                    *queue.script_keys,
                    *fence_keys,
                    ttl_ms,
                    _delays(chosen, _now_ms()),
                    fence_token,
                    queue.tag,
                    *pairs,
                )

        try:
            replies = self._stream(calls())
        except BrokerError as e:
            reply = str(e.__cause__ or "")
            if fence is not None and reply.startswith(_FENCED):
                current, _, holder = reply.removeprefix(_FENCED).partition("\t")
                raise Fenced(
                    fence[0], fence[1], holder or None, int(current) if current else None
                ) from None
            raise
        for (chunk, _), reply in zip(chunks, replies[1:], strict=True):
            for i, flag in zip(chunk, reply, strict=True):
                pushed[i] = flag == 49  # ord("1")
        return pushed

    def _stream(self, commands: Iterator[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` back to back on one connection, then read every reply.

        An EVALSHA the server answers with NOSCRIPT (its script cache was flushed) did not
        run; it is sent again after the script is reloaded. Any other error reply is raised
        as BrokerError once every reply has been read (the connection stays usable).
        """
        pool = self._client.connection_pool
        sent: list[tuple[Any, ...]] = []
        replies: list[Any] = []
        with self._errors():
            self._ensure_scripts_loaded()
            conn = pool.get_connection()
            try:
                for command in commands:
                    conn.send_packed_command(_pack(command), check_health=False)
                    sent.append(command)
                for _ in sent:
                    try:
                        replies.append(conn.read_response())
                    except redis.ResponseError as e:
                        replies.append(e)
            except BaseException:
                conn.disconnect()  # replies may be pending: never reuse it
                raise
            finally:
                pool.release(conn)
            for n, reply in enumerate(replies):
                # The cache is server-wide: another client's SCRIPT FLUSH can land between the
                # reload and the retry, so a few tries.
                for _ in range(_NOSCRIPT_TRIES):
                    if not isinstance(reply, redis.exceptions.NoScriptError):
                        break
                    self._scripts_loaded = False
                    self._ensure_scripts_loaded()
                    try:
                        reply = replies[n] = self._client.execute_command(*sent[n])
                    except redis.exceptions.NoScriptError as e:
                        reply = e
                if isinstance(reply, redis.ResponseError):
                    raise reply
        return replies

    def _ensure_scripts_loaded(self) -> None:
        # Streamed EVALSHAs cannot reload a script between commands (redis-py's Script does
        # that for single calls), so load them once up front; NOSCRIPT replies are retried.
        if not self._scripts_loaded:
            for script in self._scripts.values():
                self._client.script_load(script.script)
            self._scripts_loaded = True

    # --- consuming -------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], consumer: str, lease: timedelta, timeout: timedelta
    ) -> Delivery | None:
        """Take the best ready message of the first non-empty queue in ``queues``: the batch
        claim of one, recording no status. ``consumer`` is not stored: ownership is the token."""
        del consumer
        claimed = self._claim(queues, lease, timeout, 1, record_started=False)
        return claimed[0] if claimed else None

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
        with its ``problem`` named.
        """
        del consumer
        if max_count < 1:
            raise ValueError(f"max_count: must be at least 1, got {max_count}")
        return self._claim(queues, lease, timeout, max_count, record_started=True)

    def _claim(
        self,
        queues: Sequence[str],
        lease: timedelta,
        timeout: timedelta,
        max_count: int,
        *,
        record_started: bool,
    ) -> list[Delivery]:
        deadline = time.monotonic() + max(timeout.total_seconds(), 0.0)
        lease_ms = int(lease.total_seconds() * 1000)
        names = list(queues)
        status_prefix = self.keys.status("") if record_started else ""
        while True:
            next_due_ms = -1  # from now
            claimed: list[Delivery] = []
            for name in names:
                prefix = secrets.token_hex(16)
                keys = self.keys.queue(name).script_keys
                command = (
                    "EVALSHA",
                    self._scripts["claim_many"].sha,
                    len(keys),
                    *keys,
                    lease_ms,
                    prefix,
                    max_count - len(claimed),
                    status_prefix,
                )
                [reply] = self._stream(iter((command,)))
                count = int(reply[0])
                if count == 0:
                    due = int(reply[1])
                    if due >= 0 and (next_due_ms < 0 or due < next_due_ms):
                        next_due_ms = due
                    continue
                lease_until = _instant(int(reply[1]))
                for i in range(count):
                    problem = reply[4 + 4 * i]
                    claimed.append(
                        Delivery(
                            message_id=_text(reply[2 + 4 * i]),
                            queue=name,
                            payload=reply[3 + 4 * i],
                            token=f"{prefix}-{i + 1}",
                            lease_until=lease_until,
                            problem=problem.decode(errors="replace") if problem else None,
                            deliveries=int(reply[5 + 4 * i]),
                        )
                    )
                if len(claimed) >= max_count:
                    break
            if claimed:
                return claimed
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return []
            wait_s = min(remaining_s, self._max_block_s)
            if next_due_ms >= 0:
                wait_s = min(wait_s, next_due_ms / 1000 + 0.001)
            if wait_s >= MIN_BLOCK_S:
                with self._errors():
                    self._client.blpop([self.keys.queue(n).notify for n in names], wait_s)

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
        now_ms = _now_ms()  # only to turn retry etas into delays
        ttl_ms = max(1, int(result_ttl.total_seconds() * 1000))
        by_queue: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_queue.setdefault(item.delivery.queue, []).append(i)
        sha = self._scripts["settle"].sha
        commands: list[tuple[Any, ...]] = []
        for name, positions in by_queue.items():
            queue = self.keys.queue(name)
            status_keys: list[bytes] = []
            args: list[Any] = [queue.tag, ttl_ms]
            for i in positions:
                item = items[i]
                status_keys.append(_wire(self.keys.status(item.delivery.message_id)))
                args.extend(_settle_args(item, now_ms))
            keys = (*queue.script_keys, *status_keys)
            commands.append(("EVALSHA", sha, len(keys), *keys, *args))
        # Packed with hiredis and sent back to back on one connection (see _stream): redis-py's
        # command path cost more client time than the script itself.
        replies = self._stream(iter(commands))
        settled = [False] * len(items)
        for positions, reply in zip(by_queue.values(), replies, strict=True):
            for i, flag in zip(positions, reply, strict=True):
                settled[i] = flag == 49  # ord("1")
        return settled

    def _in_flight(self, script: str, delivery: Delivery, *args: Any) -> int:
        queue = self.keys.queue(delivery.queue)
        return int(self._run(script, queue, _wire(delivery.message_id), delivery.token, *args))

    def extend(self, delivery: Delivery, lease: timedelta) -> Delivery | None:
        """Renew the lease from now (the server's clock); None if the claim is no longer ours."""
        lease_until_ms = self._in_flight("extend", delivery, int(lease.total_seconds() * 1000))
        if not lease_until_ms:
            return None
        return Delivery(
            message_id=delivery.message_id,
            queue=delivery.queue,
            payload=delivery.payload,
            token=delivery.token,
            lease_until=_instant(lease_until_ms),
        )

    def ack(self, delivery: Delivery) -> bool:
        """Remove a finished message; False if the claim is no longer ours."""
        return self.settle_many([Settlement(delivery, ACK, None)])[0]

    def retry(self, delivery: Delivery, message: Message, eta: datetime) -> bool:
        """Replace the in-flight message with ``message``, delayed until ``eta`` (ready at once
        if it has passed, behind what is ready now); False if the claim is no longer ours."""
        return self.settle_many([Settlement(delivery, RetryAction(message, eta), None)])[0]

    def release(self, delivery: Delivery) -> bool:
        """Return a message to ready, unchanged and in its old place; False if not ours."""
        return bool(self._in_flight("release", delivery))

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Move an in-flight message to its queue's dead letters with ``reason``."""
        return self.settle_many([Settlement(delivery, DeadLetterAction(reason), None)])[0]

    def recover_expired(self, now: datetime | None = None) -> int:
        """Return messages whose lease ran out (their worker died) to ready; how many.

        Expired by the server's clock. ``now`` (tests: "as if this much later") is taken
        relative to this host's clock and sent as that far ahead of the server's.
        """
        ahead_ms = 0 if now is None else _delay_ms(now, _now_ms())
        total = 0
        for name in self._queue_names():
            queue = self.keys.queue(name)
            while True:
                moved = int(self._run("recover", queue, ahead_ms))
                total += moved
                if moved < RECOVER_STEP:
                    break
        return total

    # --- observing -------------------------------------------------------------------------
    def _queue_names(self) -> list[str]:
        with self._errors():
            members = self._client.smembers(self.keys.queues)
        return sorted(m.decode() for m in members)

    def now(self) -> datetime:
        """The Redis server's clock: the one that decides leases, etas and recovery."""
        with self._errors():
            seconds, micros = self._client.time()
        return _instant(int(seconds) * 1000 + int(micros) // 1000)

    def heartbeat(self, consumer: str, queues: Sequence[str], ttl: timedelta) -> None:
        """Announce a live consumer of ``queues`` for ``ttl`` (from the server's now); its
        queues now exist."""
        if not queues:
            return
        with self._errors():
            self._client.sadd(self.keys.queues, *queues)
        keys = [self.keys.queue(name).consumers for name in queues]
        self._lease_script("heartbeat", keys, consumer, _ttl_ms(ttl))

    def forget_consumer(self, consumer: str, queues: Sequence[str]) -> None:
        """Remove ``consumer``'s heartbeat now (a clean stop), instead of letting it expire."""
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in queues:
                pipe.zrem(self.keys.queue(name).consumers, consumer)
            pipe.execute()

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name.

        In flight counts leases still running; leases that ran out are ``expired_lease``.
        """
        names = self._queue_names()
        now_ms = _ms(self.now())  # live consumers: by the clock their heartbeats expire by
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                q = self.keys.queue(name)
                for key in q.ready:
                    pipe.llen(key)
                pipe.zcard(q.delayed)
                pipe.zcount(q.inflight, f"({now_ms}", "+inf")  # the lease deadline is the score
                pipe.xlen(q.dead)
                pipe.zcount(q.consumers, f"({now_ms}", "+inf")
                pipe.zcount(q.inflight, "-inf", now_ms)
            counts = [int(n) for n in pipe.execute()]
        per_queue = 10 + 5  # the ready lists, delayed, in flight, dead, consumers, expired
        stats = []
        for i, name in enumerate(names):
            c = counts[per_queue * i : per_queue * (i + 1)]
            stats.append(QueueStats(name, sum(c[:10]), *c[10:]))
        return stats

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The queue's dead letters, oldest first, at most ``limit``."""
        with self._errors():
            entries = self._client.xrange(self.keys.queue(queue).dead, count=limit)
        return [
            DeadLetter(
                message_id=fields[b"id"].decode(),
                queue=queue,
                payload=fields[b"payload"],
                reason=fields[b"reason"].decode(),
                at=_instant(int(fields[b"at_ms"])),
            )
            for _, fields in entries
        ]

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state; kept ``ttl`` after a final state.

        Raises TypeError/ValueError, before writing anything, if the result is not JSON.
        """
        fields = _status_fields(status)
        key = self.keys.status(status.id)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(key)  # fields of an earlier state (an old error) must not linger
            pipe.hset(key, mapping=fields)
            if status.state in FINAL_STATES:
                pipe.pexpire(key, max(1, int(ttl.total_seconds() * 1000)))
            pipe.execute()

    def get_status(self, task_id: str) -> TaskStatus | None:
        """What is known of ``task_id``; QUEUED if only its message is known; None if never
        seen (or expired)."""
        with self._errors():
            raw = self._client.hgetall(self.keys.status(task_id))
        if raw:
            f = {k.decode(): v.decode() for k, v in raw.items()}
            return TaskStatus(
                id=task_id,
                task=f["task"],
                state=TaskState(f["state"]),
                attempts=int(f["attempts"]),
                result=json.loads(f["result"]),
                error=f.get("error"),
                started_at=_instant(int(f["started_at_ms"])) if "started_at_ms" in f else None,
                finished_at=_instant(int(f["finished_at_ms"])) if "finished_at_ms" in f else None,
                deliveries=int(f.get("deliveries", 0)),
            )
        return self._queued_status(task_id)

    def _queued_status(self, task_id: str) -> TaskStatus | None:
        names = self._queue_names()
        if not names:
            return None
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hget(self.keys.queue(name).msg, task_id)
            values = pipe.execute()
        for value in values:
            if value is None:
                continue
            try:
                message = Message.decode(value.split(b":", 1)[1])  # after "<p><ttl ms>:"
            except (DecodeError, RecursionError):  # RecursionError: JSON nested too deeply
                return TaskStatus(id=task_id, task="", state=TaskState.QUEUED, attempts=0)
            return TaskStatus(
                id=task_id, task=message.task, state=TaskState.QUEUED, attempts=message.attempt
            )
        return None

    # --- leader leases ---------------------------------------------------------------------
    def _lease_keys(self, name: str) -> tuple[str, str]:
        """The lease HASH and its fencing counter; one hash tag, so one Cluster slot."""
        lease = f"{self.keys.prefix}:lease:{{{name}}}"
        return lease, f"{lease}:fence"

    def _lease_script(self, script: str, keys: Sequence[str], *args: Any) -> Any:
        if self._lease_scripts is None:
            lua = Path(__file__).with_name("lua")
            self._lease_scripts = {
                n: self._client.register_script((lua / f"{n}.lua").read_text())
                for n in _LEASE_SCRIPTS
            }
        with self._errors():
            return self._lease_scripts[script](keys=keys, args=args, client=self._client)

    def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> int | None:
        """Take lease ``name`` if free, expired or ``owner``'s; its fencing token, else None."""
        token = self._lease_script("lease_acquire", self._lease_keys(name), owner, _ttl_ms(ttl))
        return None if token is None else int(token)

    def renew_lease(self, name: str, owner: str, token: int, ttl: timedelta) -> bool:
        """Extend the lease by ``ttl`` from now; False if ``owner``/``token`` lost it."""
        keys = self._lease_keys(name)[:1]
        return int(self._lease_script("lease_renew", keys, owner, token, _ttl_ms(ttl))) == 1

    def release_lease(self, name: str, owner: str, token: int) -> None:
        """Give the lease up if ``owner``/``token`` hold it."""
        self._lease_script("lease_release", self._lease_keys(name)[:1], owner, token)

    def lease_holder(self, name: str) -> LeaseHolder | None:
        """The live holder of lease ``name``, or None."""
        key = self._lease_keys(name)[0]
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hmget(key, "owner", "token")
            pipe.pttl(key)
            pipe.time()
            (owner, token), pttl_ms, (seconds, micros) = pipe.execute()
        if owner is None or token is None or pttl_ms < 0:
            return None
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return LeaseHolder(owner.decode(), int(token), _instant(now_ms + pttl_ms))

    def ping(self) -> None:
        """Raise BrokerUnavailable unless Redis answers."""
        with self._errors():
            self._client.ping()

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisBroker({self.url!r})"
