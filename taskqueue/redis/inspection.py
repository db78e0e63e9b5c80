"""What the Redis queues hold: their figures and their dead letters (read-only)."""

from __future__ import annotations

from taskqueue.records import DeadLetter, QueueStats
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection


class RedisInspection(RedisConnection):
    """:class:`~taskqueue.broker.QueueInspection` on Redis."""

    def queue_stats(self) -> list[QueueStats]:
        """Every known queue (created on first use), sorted by name.

        In flight counts leases still running; leases that ran out are ``expired_lease``.
        """
        names = self._queue_names()
        now_ms = wire.ms(self.now())  # live consumers: by the clock their heartbeats expire by
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
                at=wire.instant(int(fields[b"at_ms"])),
            )
            for _, fields in entries
        ]
