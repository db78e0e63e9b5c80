"""Revoking task ids on Redis (``beat revoke``).

The revoked ids are a ZSET (``keys.revoked``, id -> expiry by the server's clock; those to be
terminated also in ``keys.revoked_terminate``). ``revoke`` finds the queue holding the id and
runs revoke.lua there: the revocation, the removal of a waiting message and its REVOKED status
in one step. claim_many.lua reads the same ZSET, so a revoked id is never delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from taskqueue.records import DEFAULT_RESULT_TTL, Revocation, RevokedWhere
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection


class RedisRevocations(RedisConnection):
    """:class:`~taskqueue.broker.Revocations` on Redis."""

    def revoke(
        self, task_id: str, *, terminate: bool = False, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> Revocation:
        """Revoke ``task_id`` for ``ttl`` (see the protocol); where it was."""
        ttl_ms = wire.ttl_ms(ttl)
        raw_id = wire.id_bytes(task_id)
        names = self._queue_names()
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hexists(self.keys.queue(name).msg, raw_id)
            found = [n for n, held in zip(names, pipe.execute(), strict=True) if held]
        for name in found:  # normally one; the message may also have finished meanwhile
            revocation = self._revoke_in(name, task_id, terminate, ttl_ms)
            if revocation.where is not RevokedWhere.NOT_FOUND:
                return revocation
        return self._revoke_unqueued(task_id, terminate, ttl_ms)

    def _revoke_in(self, name: str, task_id: str, terminate: bool, ttl_ms: int) -> Revocation:
        """revoke.lua on queue ``name``."""
        extra = [self.keys.revoked, self.keys.revoked_terminate]
        extra += [self.keys.status(task_id), self.keys.done(task_id)]
        keys: list[str | bytes] = [*self.keys.queue(name).script_keys]
        keys += [wire.id_bytes(k) for k in extra]
        args = [wire.id_bytes(task_id), "1" if terminate else "0", ttl_ms]
        with self._errors():
            where, expires_ms = self._scripts["revoke"](keys=keys, args=args, client=self._client)
        expires_at = wire.instant(int(expires_ms))
        return Revocation(task_id, RevokedWhere(where.decode()), name, terminate, expires_at)

    def _revoke_unqueued(self, task_id: str, terminate: bool, ttl_ms: int) -> Revocation:
        """No queue exists yet: the revocation alone (the id will not run when it comes)."""
        now_ms = wire.ms(self.now())
        expires_ms = now_ms + ttl_ms
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.zremrangebyscore(self.keys.revoked, "-inf", now_ms)
            pipe.zadd(self.keys.revoked, {wire.id_bytes(task_id): expires_ms})
            if terminate:
                pipe.zadd(self.keys.revoked_terminate, {wire.id_bytes(task_id): expires_ms})
            pipe.execute()
        return Revocation(
            task_id, RevokedWhere.NOT_FOUND, None, terminate, wire.instant(expires_ms)
        )

    def terminations(self, task_ids: Sequence[str]) -> set[str]:
        """Those of ``task_ids`` revoked with terminate (revocation not expired)."""
        if not task_ids:
            return set()
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            pipe.time()
            pipe.zmscore(self.keys.revoked_terminate, [wire.id_bytes(i) for i in task_ids])
            (seconds, micros), scores = pipe.execute()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return {i for i, s in zip(task_ids, scores, strict=True) if s is not None and s > now_ms}
