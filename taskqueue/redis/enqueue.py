"""Enqueue-once on Redis: one enqueue.lua call per chunk of one queue, streamed.

An id is refused while its message is in the queue (ready, delayed or in flight), and once it
is done (acked or dead-lettered) for between one and two dedupe TTLs: ids are remembered in
per-queue sets, one per TTL-long window, when their message leaves (see enqueue.lua). So the
TTL counts from when the task finished, not from the enqueue, and an id is never forgotten
while its message waits. Done ids are filed under their TTL, so a sender must use one TTL for
an id (beat does). The dedupe is per queue (one slot): the same id sent to two queues in two
calls is accepted by both; within one call it is not.

Task statuses are kept lazily: enqueue writes no status (it would double the writes of a beat
burst); see :mod:`taskqueue.redis.states`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from taskqueue.encoding_producer import EncodingProducer
from taskqueue.errors import BrokerError, Fenced
from taskqueue.keys import QueueKeys
from taskqueue.records import EncodedMessage, Fence, Promoted
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection

# enqueue.lua's error reply for a stale fencing token: "FENCED <current token>\t<holder>".
_FENCED = "FENCED "

# Delayed messages moved per promote_due.lua call: a 100,000 burst in ten calls, each a few ms
# of Redis time (a call never holds the server for long).
PROMOTE_CHUNK = 10_000

Chunk = tuple[list[int], QueueKeys]


def _delays(items: Sequence[EncodedMessage], now_ms: int) -> str:
    """enqueue.lua's ARGV[2]: the delays in ms, comma-separated; '' if none has an eta."""
    if all(item.eta is None for item in items):
        return ""
    return ",".join("" if i.eta is None else str(wire.delay_ms(i.eta, now_ms)) for i in items)


def _by_queue(items: Sequence[EncodedMessage]) -> dict[str, list[int]]:
    """The positions of ``items`` by queue; a later copy of an id is left out (refused), so
    each script sees an id once."""
    by_queue: dict[str, list[int]] = {}
    if len({item.id for item in items}) == len(items):  # the usual case: no copies
        for i, item in enumerate(items):
            by_queue.setdefault(item.queue, []).append(i)
        return by_queue
    first_of: dict[str, int] = {}
    for i, item in enumerate(items):
        if first_of.setdefault(item.id, i) == i:
            by_queue.setdefault(item.queue, []).append(i)
    return by_queue


def _fenced(error: BrokerError, fence: Fence | None) -> Fenced | None:
    """The Fenced error that enqueue.lua's error reply stands for; None if it is another."""
    reply = str(error.__cause__ or "")
    if fence is None or not reply.startswith(_FENCED):
        return None
    current, _, holder = reply.removeprefix(_FENCED).partition("\t")
    return Fenced(fence[0], fence[1], holder or None, int(current) if current else None)


class RedisProducer(RedisConnection, EncodingProducer):
    """:class:`~taskqueue.broker.Producer` on Redis.

    An id is refused while it is still queued or was done within ``dedupe_ttl`` (a done id is
    remembered for at least ``dedupe_ttl`` and at most twice it); a future ``eta`` holds the
    message in the delayed set.
    """

    def _push(
        self, items: Sequence[EncodedMessage], dedupe_ttl: timedelta, fence: Fence | None
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
        by_queue = _by_queue(items)
        chunks: list[Chunk] = [
            (positions[start : start + self._enqueue_chunk], self.keys.queue(name))
            for name, positions in by_queue.items()
            for start in range(0, len(positions), self._enqueue_chunk)
        ]
        ttl_ms = max(1, int(dedupe_ttl.total_seconds() * 1000))
        try:
            replies = self._stream_acked(
                self._enqueue_calls(items, by_queue, chunks, ttl_ms, fence), "enqueue"
            )
        except BrokerError as e:
            fenced = _fenced(e, fence)
            if fenced is not None:
                raise fenced from None
            raise
        pushed = [False] * len(items)
        for (chunk, _), reply in zip(chunks, replies[1:], strict=True):
            for i, flag in zip(chunk, reply, strict=True):
                pushed[i] = flag == 49  # ord("1")
        return pushed

    def _enqueue_calls(
        self,
        items: Sequence[EncodedMessage],
        by_queue: dict[str, list[int]],
        chunks: list[Chunk],
        ttl_ms: int,
        fence: Fence | None,
    ) -> Iterator[tuple[Any, ...]]:
        """The commands of an enqueue: register the queues, then one script call per chunk
        (made as they are sent, see _stream)."""
        # The msg hash value: "<priority digit><dedupe TTL ms>:<payload>" (see _lib.lua).
        prefixes = [f"{p}{ttl_ms}:".encode() for p in range(10)]
        fence_keys: tuple[str, ...] = ()
        fence_token = ""
        if fence is not None:
            fence_keys = (self._lease_keys(fence[0])[0],)
            fence_token = str(fence[1])
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
                _delays(chosen, wire.now_ms()),
                fence_token,
                queue.tag,
                *pairs,
            )

    def promote_due(self, queue: str) -> Promoted:
        """Move ``queue``'s due delayed messages to ready (promote_due.lua), PROMOTE_CHUNK per
        call until a call comes back short; due by the server's clock, like a claim's."""
        keys = self.keys.queue(queue)
        moved = 0
        while True:
            step, next_ms = (int(v) for v in self._run("promote_due", keys, PROMOTE_CHUNK))
            moved += step
            if step < PROMOTE_CHUNK:
                break
        next_due = None if next_ms < 0 else timedelta(milliseconds=next_ms)
        return Promoted(moved, next_due)
