"""The Redis client under every role: connecting, error translation, and the Lua scripts.

Each operation on a queue is one Lua script (``taskqueue/lua/*.lua``, loaded with
``register_script``: EVALSHA, and a reload if the server lost its script cache), so it is
atomic. All of a queue's keys share one hash tag (see :mod:`taskqueue.keys`), so each script
stays in one Redis Cluster slot. Hot paths stream packed commands on one connection
(:meth:`RedisConnection._stream`) instead of going through redis-py's command path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script

from taskqueue.errors import BrokerDataError, BrokerError, BrokerUnavailable
from taskqueue.keys import DEFAULT_PREFIX, QUEUE_KEY_TYPES, KeySpace, QueueKeys
from taskqueue.redact import redact_url
from taskqueue.redis import wire
from taskqueue.redis.sentinel import sentinel_client
from taskqueue.redis_url import RedisTarget, ReplicaWait, parse_redis_url

logger = logging.getLogger(__name__)

# Messages per enqueue script call. Measured with bench/bench_enqueue.py (100,000 fires, 2-core
# machine, Redis 7 on loopback): one call per message, streamed, 3.0 s; 100 per call 0.58 s;
# 1,000 per call 0.47 s; 5,000 per call no faster (0.65 s) and Redis blocked longer per call.
ENQUEUE_CHUNK = 1_000
# Longest single BLPOP of a claim: a backstop for wake-ups no one pushes (a lease expiring).
MAX_BLOCK_S = 1.0

# Scripts of a queue: each is _lib.lua followed by its own file.
_SCRIPTS = (
    "enqueue",
    "claim_many",
    "extend",
    "release",
    "settle",
    "recover",
    "revoke",
    "requeue_dead",
    "purge_ready",
    "promote_due",
)
# Scripts that stand alone (no queue keys, so no _lib.lua).
_STANDALONE_SCRIPTS = ("lease_acquire", "lease_renew", "lease_release", "heartbeat")
# _send_all joins packed commands into writes of about this many bytes.
_WRITE_CHUNK = 64 * 1024
# Reload-and-retry rounds for an EVALSHA answered NOSCRIPT (see _stream).
_NOSCRIPT_TRIES = 3
# Next to the package (package data): not importlib.resources, which can resolve a
# same-named test directory first.
_LUA = Path(__file__).parent.parent / "lua"


def _load_scripts(client: Any) -> dict[str, Script]:
    lib = (_LUA / "_lib.lua").read_text()
    return {
        name: client.register_script(lib + (_LUA / f"{name}.lua").read_text()) for name in _SCRIPTS
    }


class RedisConnection:
    """The client, the key space and the scripts the role classes share (the URL: see
    :class:`~taskqueue.redis.RedisBroker`)."""

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
            target = parse_redis_url(url)
        except ValueError as e:  # our reading of the URL: the message names the part
            raise BrokerError(str(e)) from e
        self._replica_wait = target.wait
        try:
            # Typed Any: redis-py's stubs answer every command with a union (sync or async,
            # bytes or str); with decode_responses=False every reply here is bytes.
            self._sentinel, self._client = _open_client(target, timeout_s)
        except ValueError as e:  # a malformed URL (bad port, bad database index)
            raise BrokerError(f"redis broker {self.url}: invalid URL: {e}") from e
        # True while the last enqueue's WAIT fell short: one warning per streak.
        self._replicas_short = False
        self._scripts = _load_scripts(self._client)
        self._standalone_scripts: dict[str, Script] | None = None  # loaded on first use
        self._scripts_loaded = False
        # (thread id, pid, connection): the connection _send_all keeps for the first thread
        # that streams (the worker's loop), see _checkout.
        self._hot: tuple[int, int, Any] | None = None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py errors into broker errors that name the (redacted) URL."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as e:
            # Sentinel's MasterNotFoundError (an election under way) is a ConnectionError.
            raise BrokerUnavailable(self.url, str(e) or type(e).__name__) from e
        except redis.exceptions.ReadOnlyError as e:
            # A primary demoted by a failover answers writes with READONLY until the client
            # finds the new one (Sentinel's pool does so on reconnect): transient.
            raise BrokerUnavailable(self.url, f"the server is a read-only replica: {e}") from e
        except redis.RedisError as e:
            if "WRONGTYPE" in str(e):
                raise self._wrong_type(e) from e
            raise BrokerError(f"redis broker {self.url}: {e}") from e

    def _expected_type(self, key: str) -> str | None:
        """The Redis type ``key`` must have; None if it is not one of ours."""
        if key == self.keys.queues:
            return "set"
        if key == self.keys.workers:
            return "hash"
        if key in (self.keys.workers_expires, self.keys.revoked, self.keys.revoked_terminate):
            return "zset"
        if key.startswith(self.keys.status("")):
            return "hash"
        if key.startswith(self.keys.done("")):
            return "list"
        if key.startswith(f"{self.keys.prefix}:lease:"):
            return "string" if key.endswith(":fence") else "hash"
        head, sep, name = key.rpartition("}:")
        if not sep or not head.startswith(f"{self.keys.prefix}:{{q:"):
            return None
        return "set" if name.startswith("seen:") else QUEUE_KEY_TYPES.get(name)

    def _wrong_type(self, error: redis.RedisError) -> BrokerDataError:
        """Name the key of the wrong type (Redis's WRONGTYPE reply does not): every key of
        every known queue is checked, the registered ones and the ones this process named
        (a queue is registered by a worker's first heartbeat, which the failing call may
        precede). Garbage no retry will fix, so one clear line."""
        found: list[str] = []
        try:
            keys = [self.keys.queues, self.keys.workers, self.keys.workers_expires]
            keys += [self.keys.revoked, self.keys.revoked_terminate]
            names = set(self.keys.used_queues())
            if self._client.type(self.keys.queues) == b"set":
                names.update(wire.id_text(n) for n in self._client.smembers(self.keys.queues))
            for name in sorted(names):
                keys.extend(self.keys.queue(name).script_keys)
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

    def _standalone_script(self, script: str, keys: Sequence[str], *args: Any) -> Any:
        if self._standalone_scripts is None:
            self._standalone_scripts = {
                n: self._client.register_script((_LUA / f"{n}.lua").read_text())
                for n in _STANDALONE_SCRIPTS
            }
        with self._errors():
            return self._standalone_scripts[script](keys=keys, args=args, client=self._client)

    def _stream(self, commands: Iterator[tuple[Any, ...]], *, acked: str = "") -> list[Any]:
        """Send ``commands`` back to back on one connection, then read every reply.

        An EVALSHA the server answers with NOSCRIPT (its script cache was flushed) did not
        run; it is sent again after the script is reloaded. Any other error reply is raised
        as BrokerError once every reply has been read (the connection stays usable).
        ``acked``: the kind of write (see _stream_acked) whose re-sent command is followed by
        the replica WAIT; '' for none.
        """
        with self._errors():
            self._ensure_scripts_loaded()
            sent, replies = self._send_all(commands)
            for n, reply in enumerate(replies):
                reply = replies[n] = self._rerun_unknown_script(sent[n], reply, acked)
                if isinstance(reply, redis.ResponseError):
                    raise reply
        return replies

    def _stream_acked(self, commands: Iterable[tuple[Any, ...]], what: str) -> list[Any]:
        """:meth:`_stream`, then (with ``wait_replicas`` in the URL) a WAIT on the same
        connection: WAIT counts the replicas that have every write this connection made.

        ``what`` names the writes (enqueue, claim, settle) in the warning of a short WAIT. If
        the connection fails before the WAIT's reply, the call raises BrokerUnavailable and
        hands back none of the replies: whether the replicas have the writes is unknown (a
        claim's deliveries are then not run; a settle is sent again). Without the option no
        command is added.
        """
        if self._replica_wait is None:
            return self._stream(iter(commands))
        wait = ("WAIT", self._replica_wait.replicas, self._replica_wait.timeout_ms)
        replies = self._stream(_then(commands, wait), acked=what)
        self._check_replicas(self._replica_wait, int(replies.pop()), what)
        return replies

    def _check_replicas(self, wait: ReplicaWait, acked: int, what: str) -> None:
        """Warn once per streak of WAITs that fell short (whatever wrote: one streak). The
        writes are in the primary and take effect; only a failover before they replicate can
        lose them."""
        if acked >= wait.replicas:
            if self._replicas_short:
                logger.warning("redis broker %s: replicas acknowledge writes again", self.url)
            self._replicas_short = False
            return
        if not self._replicas_short:
            logger.warning(
                "redis broker %s: %s acknowledged by %d of %d replica(s) within %d ms; "
                "the primary has it but a failover now could lose it",
                self.url,
                what,
                acked,
                wait.replicas,
                wait.timeout_ms,
            )
        self._replicas_short = True

    def _send_all(
        self, commands: Iterator[tuple[Any, ...]]
    ) -> tuple[list[tuple[Any, ...]], list[Any]]:
        """Send the commands (joined into writes of about ``_WRITE_CHUNK`` bytes), then read
        the replies (an error reply is returned in its place, not raised)."""
        sent: list[tuple[Any, ...]] = []
        replies: list[Any] = []
        conn = self._checkout()
        try:
            # Small commands go out together in one write (one syscall, and the server reads
            # them in one go); a long stream still goes out while the rest is being packed.
            buffered: list[bytes] = []
            size = 0
            for command in commands:
                packed = wire.pack(command)[0]
                buffered.append(packed)
                size += len(packed)
                sent.append(command)
                if size >= _WRITE_CHUNK:
                    conn.send_packed_command([b"".join(buffered)], check_health=False)
                    buffered, size = [], 0
            if buffered:
                conn.send_packed_command([b"".join(buffered)], check_health=False)
            for _ in sent:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as e:
                    replies.append(e)
        except BaseException:
            self._checkin(conn, broken=True)  # replies may be pending: never reuse it
            raise
        # A demoted primary (failover) answers READONLY: find the new one on the next call.
        demoted = any(isinstance(r, redis.exceptions.ReadOnlyError) for r in replies)
        self._checkin(conn, broken=demoted)
        return sent, replies

    def _checkout(self) -> Any:
        """A connection for one stream. The first thread to stream keeps its connection
        between calls (the worker's loop streams a claim and a settle per batch: redis-py's
        pool checkout and release, with its health poll and metrics, cost more than packing
        the scripts); other threads go through the pool."""
        hot = self._hot
        ident, pid = threading.get_ident(), os.getpid()
        if hot is not None and hot[0] == ident and hot[1] == pid:
            return hot[2]
        conn = self._client.connection_pool.get_connection()
        if hot is None or hot[1] != pid:
            self._hot = (ident, pid, conn)
        return conn

    def _checkin(self, conn: Any, *, broken: bool = False) -> None:
        """End one stream on ``conn``: the kept connection stays out (unless ``broken``:
        then it is disconnected and returned, and the next stream checks out another)."""
        if broken:
            conn.disconnect()
        hot = self._hot
        if hot is not None and hot[2] is conn:
            if not broken:
                return
            self._hot = None
        self._client.connection_pool.release(conn)

    def _rerun_unknown_script(self, command: tuple[Any, ...], reply: Any, acked: str) -> Any:
        """``reply``, or if it is NOSCRIPT, the reply of ``command`` sent again after the
        scripts were reloaded. The cache is server-wide: another client's SCRIPT FLUSH can land
        between the reload and the retry, so a few tries."""
        for _ in range(_NOSCRIPT_TRIES):
            if not isinstance(reply, redis.exceptions.NoScriptError):
                break
            self._scripts_loaded = False
            self._ensure_scripts_loaded()
            try:
                reply = self._execute(command, acked)
            except redis.exceptions.NoScriptError as e:
                reply = e
        return reply

    def _execute(self, command: tuple[Any, ...], acked: str) -> Any:
        """``command`` on its own; if ``acked`` (the kind of write), followed by the replica
        WAIT: a re-sent write is on another connection than the one the stream's WAIT
        covered."""
        if self._replica_wait is None or not acked:
            return self._client.execute_command(*command)
        pipe = self._client.pipeline(transaction=False)
        pipe.execute_command(*command)
        pipe.execute_command("WAIT", self._replica_wait.replicas, self._replica_wait.timeout_ms)
        reply, replicas = pipe.execute(raise_on_error=False)
        if isinstance(reply, redis.exceptions.NoScriptError):
            raise reply
        if not isinstance(replicas, Exception):
            self._check_replicas(self._replica_wait, int(replicas), acked)
        return reply

    def _ensure_scripts_loaded(self) -> None:
        # Streamed EVALSHAs cannot reload a script between commands (redis-py's Script does
        # that for single calls), so load them once up front; NOSCRIPT replies are retried.
        if not self._scripts_loaded:
            for script in self._scripts.values():
                self._client.script_load(script.script)
            self._scripts_loaded = True

    def _queue_names(self) -> list[str]:
        with self._errors():
            members = self._client.smembers(self.keys.queues)
        return sorted(m.decode() for m in members)

    def _lease_keys(self, name: str) -> tuple[str, str]:
        """The lease HASH and its fencing counter; one hash tag, so one Cluster slot."""
        lease = f"{self.keys.prefix}:lease:{{{name}}}"
        return lease, f"{lease}:fence"

    def now(self) -> datetime:
        """The Redis server's clock: the one that decides leases, etas and recovery."""
        with self._errors():
            seconds, micros = self._client.time()
        return wire.instant(int(seconds) * 1000 + int(micros) // 1000)

    def ping(self) -> None:
        """Raise BrokerUnavailable unless Redis answers."""
        with self._errors():
            self._client.ping()

    def close(self) -> None:
        self._client.close()
        if self._sentinel is not None:
            self._sentinel.close()


def _then(commands: Iterable[tuple[Any, ...]], last: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    yield from commands
    yield last


def _open_client(target: RedisTarget, timeout_s: float) -> tuple[Any, Any]:
    """(the Sentinel manager or None, the client of the primary)."""
    if target.sentinel is not None:
        return sentinel_client(target.sentinel, timeout_s)
    client = redis.Redis.from_url(
        target.url,
        decode_responses=False,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return None, client
