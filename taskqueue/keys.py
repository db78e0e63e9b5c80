"""Every Redis key the Redis broker uses, in one place.

All keys of one queue carry the hash tag ``{q:<name>}``, so they live in one Redis Cluster slot
and every Lua script (which only ever touches one queue) stays within that slot. Keys that are
not about one queue (the registry of queues, task statuses) are written by plain commands,
never from inside a queue's script, so they may live in other slots.

Layout, for prefix ``beat`` and queue ``mail``::

    beat:{q:mail}:ready:<p>    LIST  ids of ready messages of priority p (0-9), oldest first
    beat:{q:mail}:delayed      ZSET  id -> eta, epoch ms
    beat:{q:mail}:msg          HASH  id -> "<priority digit><dedupe ttl ms>:<payload>" for every
                                     message in the queue (ready, delayed, in flight)
    beat:{q:mail}:inflight     ZSET  id -> lease deadline, epoch ms
    beat:{q:mail}:claims       HASH  id -> "<token>:<priority>" (the owner of the claim)
    beat:{q:mail}:dead         STREAM  dead letters, oldest first (id, payload, reason, at_ms)
    beat:{q:mail}:consumers    ZSET  consumer -> heartbeat expiry, epoch ms
    beat:{q:mail}:notify       LIST  at most one wake-up token for blocked claimers
    beat:{q:mail}:deliveries   HASH  id -> how many times its current attempt was claimed
                                     (cleared when it is acked, retried or dead-lettered)
    beat:{q:mail}:seen:<ttl ms>:<window>
                               SET   ids whose message was done (acked, dead-lettered) in one
                                     dedupe window (window = now // ttl); expires at the end of
                                     the next window
    beat:queues                SET   names of every known queue
    beat:status:<task id>      HASH  task state (expires after a final state)
    beat:done:<task id>        LIST  one token pushed when the task reaches a final state, for
                                     TaskResult.get's BLPOP (expires after DONE_TTL)
    beat:workers               HASH  worker name -> "<last seen ms>:<JSON heartbeat record>"
    beat:workers:expires       ZSET  worker name -> when its heartbeat runs out, epoch ms
    beat:revoked               ZSET  revoked task id -> when the revocation expires, epoch ms
    beat:revoked:terminate     ZSET  the same, for ids whose running task is to be killed
    beat:chord:<chord id>      HASH  member index -> its JSON result or error, set in one
                                     transaction with the count (expires with the results)
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "beat"
# How long a task's done token waits for a TaskResult.get to BLPOP it. Short: a waiter that
# comes later reads the final status first and never needs the token (settle.lua has the same
# number, DONE_TTL_MS).
DONE_TTL_MS = 60_000

# Each queue key and its Redis type (as TYPE names it, to name a key that holds something
# else). The order is the order of KEYS[] in every script (see taskqueue/lua/*.lua): fixed, so
# each script can name them ``KEYS[1]``..``KEYS[n]`` and the Python side builds them once.
QUEUE_KEY_TYPES = {
    "delayed": "zset",
    "msg": "hash",
    "inflight": "zset",
    "claims": "hash",
    "dead": "stream",
    "consumers": "zset",
    "notify": "list",
    **{f"ready:{p}": "list" for p in range(10)},
    "deliveries": "hash",
}
QUEUE_KEY_NAMES = tuple(QUEUE_KEY_TYPES)


_READY = QUEUE_KEY_NAMES.index("ready:0")


class _Key:
    """A queue key as an attribute of :class:`QueueKeys`: found by its name's place in
    QUEUE_KEY_NAMES, which is its place in KEYS[] (so the order is written once, above)."""

    __slots__ = ("index",)

    def __init__(self, name: str) -> None:
        self.index = QUEUE_KEY_NAMES.index(name)

    def __get__(self, keys: QueueKeys, owner: type[QueueKeys] | None = None) -> str:
        return keys.script_keys[self.index]


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue. ``script_keys`` is KEYS[] for every per-queue Lua script; each
    key but the ready lists is also an attribute of its name (``keys.delayed``)."""

    name: str
    tag: str  # "<prefix>:{q:<name>}", the common head of every key of the queue
    script_keys: tuple[str, ...]

    delayed = _Key("delayed")
    msg = _Key("msg")
    inflight = _Key("inflight")
    claims = _Key("claims")
    dead = _Key("dead")
    consumers = _Key("consumers")
    notify = _Key("notify")
    deliveries = _Key("deliveries")

    @property
    def ready(self) -> tuple[str, ...]:
        """The ready lists, by priority: ``ready[p]``."""
        return self.script_keys[_READY : _READY + 10]

    def seen(self, ttl_ms: int, window: int) -> str:
        """The set of ids done in dedupe window ``window`` (``now_ms // ttl_ms``); the Lua
        side builds the same name (``_lib.lua``, remember)."""
        return f"{self.tag}:seen:{ttl_ms}:{window}"


class KeySpace:
    """Key names under one prefix; queue keys are cached (built once per queue name)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            # A brace in the prefix would move the hash tag and split a queue across slots.
            raise ValueError(f"redis key prefix {prefix!r}: must be non-empty, without braces")
        self.prefix = prefix
        self.queues = f"{prefix}:queues"
        self.workers = f"{prefix}:workers"
        self.workers_expires = f"{prefix}:workers:expires"
        self.revoked = f"{prefix}:revoked"
        self.revoked_terminate = f"{prefix}:revoked:terminate"
        self._queue_keys: dict[str, QueueKeys] = {}

    def queue(self, name: str) -> QueueKeys:
        keys = self._queue_keys.get(name)
        if keys is None:
            tag = f"{self.prefix}:{{q:{name}}}"
            keys = QueueKeys(name, tag, tuple(f"{tag}:{k}" for k in QUEUE_KEY_NAMES))
            self._queue_keys[name] = keys
        return keys

    def used_queues(self) -> list[str]:
        """The queues whose keys this process has built (named by its own calls)."""
        return list(self._queue_keys)

    def status(self, task_id: str) -> str:
        return f"{self.prefix}:status:{task_id}"

    def chord(self, chord_id: str) -> str:
        return f"{self.prefix}:chord:{chord_id}"

    def done(self, task_id: str) -> str:
        return f"{self.prefix}:done:{task_id}"
