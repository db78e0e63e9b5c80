"""Worker heartbeat records on Redis (``beat workers``).

``keys.workers`` (HASH name -> ``"<last seen ms>:<JSON record>"``) and ``keys.workers_expires``
(ZSET name -> when the heartbeat runs out, ms), both by the server's clock. A worker that
stops beating stays listed as missed for :data:`~taskqueue.heartbeats.MISSED_KEPT`, then the
next publish by any worker drops it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from taskqueue.heartbeats import MISSED_KEPT, WorkerRecord, WorkerSeen, seen
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection


class RedisWorkers(RedisConnection):
    """:class:`~taskqueue.broker.WorkerHeartbeats` on Redis."""

    def publish_worker(self, record: WorkerRecord, ttl: timedelta) -> None:
        """Store ``record``, seen now, live for ``ttl``; drop workers missed for too long."""
        now_ms = wire.ms(self.now())
        forgotten_ms = now_ms - int(MISSED_KEPT.total_seconds() * 1000)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(self.keys.workers, record.name, f"{now_ms}:{record.to_json()}")
            pipe.zadd(self.keys.workers_expires, {record.name: now_ms + wire.ttl_ms(ttl)})
            pipe.zrangebyscore(self.keys.workers_expires, "-inf", forgotten_ms)
            stale = pipe.execute()[2]
            if stale:
                pipe = self._client.pipeline(transaction=True)
                pipe.hdel(self.keys.workers, *stale)
                pipe.zrem(self.keys.workers_expires, *stale)
                pipe.execute()

    def remove_worker(self, name: str) -> None:
        """Remove ``name``'s record now (a clean stop)."""
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hdel(self.keys.workers, name)
            pipe.zrem(self.keys.workers_expires, name)
            pipe.execute()

    def workers(self) -> list[WorkerSeen]:
        """Every worker live or missed within MISSED_KEPT, by name; garbage named per row."""
        now = self.now()
        forgotten_ms = wire.ms(now) - int(MISSED_KEPT.total_seconds() * 1000)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(self.keys.workers)
            pipe.zrange(self.keys.workers_expires, 0, -1, withscores=True)
            records, expiries = pipe.execute()
        expires = {wire.id_text(n): int(score) for n, score in expiries}
        values = {wire.id_text(n): v for n, v in records.items()}
        rows = []
        for name in sorted(set(expires) | set(values)):
            rows.append(self._row(name, values.get(name), expires.get(name), now))
        return [r for r in rows if r.expires_at is None or wire.ms(r.expires_at) > forgotten_ms]

    @staticmethod
    def _row(name: str, value: bytes | None, expires_ms: int | None, now: datetime) -> WorkerSeen:
        if expires_ms is None:
            return WorkerSeen(name, None, None, None, False, "heartbeat record without an expiry")
        expires_at = wire.instant(expires_ms)
        if value is None:
            return seen(name, None, expires_at, expires_at, now)
        head, sep, raw = value.partition(b":")
        if not sep or not head.isdigit():
            problem = f"worker {name!r}: heartbeat record does not start with '<last seen ms>:'"
            return WorkerSeen(name, None, None, expires_at, now < expires_at, problem)
        return seen(name, raw, wire.instant(int(head)), expires_at, now)
