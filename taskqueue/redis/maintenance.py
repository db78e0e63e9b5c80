"""Requeueing dead letters and dropping messages on Redis (``beat dead``, ``beat purge``).

Each change to a queue is one script call (requeue_dead.lua, purge_ready.lua), so a worker
claiming meanwhile sees a message either where it was or where it went. Dead-letter stream
entries are read as untrusted: an entry without its fields is refused by name, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from taskqueue.dead_letters import Requeued, requeued_message
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection

# Dead letters read per XRANGE, and requeued per script call.
_CHUNK = 500
# purge_ready.lua drops at most this many per call (its STEP).
_PURGE_STEP = 1000


class RedisMaintenance(RedisConnection):
    """:class:`~taskqueue.broker.QueueMaintenance` on Redis."""

    def _dead_entries(self, queue: str) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
        """Every entry of the queue's dead-letter stream, oldest first, in chunks."""
        key, start = self.keys.queue(queue).dead, "-"
        while True:
            with self._errors():
                entries = self._client.xrange(key, start, "+", count=_CHUNK)
            yield from entries
            if len(entries) < _CHUNK:
                return
            start = "(" + entries[-1][0].decode()

    def requeue_dead(self, queue: str, message_ids: Sequence[str] | None = None) -> Requeued:
        """Put the queue's dead letters (all, or those of ``message_ids``) back as new
        deliveries: same id, attempts reset, recorded QUEUED."""
        wanted = None if message_ids is None else set(message_ids)
        done = Requeued(queue)
        batch: list[tuple[bytes, str, Any]] = []
        for entry, fields in self._dead_entries(queue):
            message_id = wire.id_text(fields.get(b"id", b""))
            if wanted is not None and message_id not in wanted:
                continue
            if not message_id or b"payload" not in fields:
                done.refused[message_id or entry.decode()] = "dead-letter entry without its fields"
                continue
            fresh = requeued_message(message_id, fields[b"payload"])
            if isinstance(fresh, str):
                done.refused[message_id] = fresh
                continue
            batch.append((entry, message_id, fresh))
            if len(batch) >= _CHUNK:
                self._requeue(queue, batch, done)
                batch = []
        if batch:
            self._requeue(queue, batch, done)
        return done

    def _requeue(self, queue: str, batch: list[tuple[bytes, str, Any]], done: Requeued) -> None:
        args: list[Any] = [self.keys.status("")]
        for entry, message_id, message in batch:
            args += [entry, wire.id_bytes(message_id), str(message.priority), message.encode()]
            args.append(message.task)
        replies = self._run("requeue_dead", self.keys.queue(queue), *args)
        for (_, message_id, _), reply in zip(batch, replies, strict=True):
            if reply == b"ok":
                done.requeued.append(message_id)
            elif reply == b"live":
                done.refused[message_id] = "a message with this id is waiting in the queue"

    def purge_dead(self, queue: str, older_than: datetime | None = None) -> int:
        """Delete the queue's dead letters (those recorded at or before ``older_than``, an
        instant by the broker's clock); how many."""
        key = self.keys.queue(queue).dead
        with self._errors():
            if older_than is None:
                pipe = self._client.pipeline(transaction=True)
                pipe.xlen(key)
                pipe.delete(key)
                return int(pipe.execute()[0])
            # Stream ids start with the server's ms at XADD: the instant it was dead-lettered.
            return int(self._client.xtrim(key, minid=wire.ms(older_than) + 1, approximate=False))

    def purge_ready(self, queue: str) -> int:
        """Drop the queue's ready messages (not delayed, not in flight); how many."""
        total = 0
        while True:
            dropped = int(self._run("purge_ready", self.keys.queue(queue)))
            total += dropped
            if dropped < _PURGE_STEP:
                return total
