"""Leader leases on Redis (beat's high availability).

``<prefix>:lease:{<name>}`` is a HASH (owner, token) that expires with the lease (Redis's
PEXPIRE, so only the server's clock decides expiry), and ``<prefix>:lease:{<name>}:fence`` the
counter that hands out fencing tokens. A fenced enqueue reads the lease in the same script call
as the push (see :mod:`taskqueue.redis.enqueue`). That needs the lease key and the queue's keys
on one node: true for a single Redis and for Sentinel (one primary), not for Cluster, where the
lease and the queue sit in different slots and the script would be refused.
"""

from __future__ import annotations

from datetime import timedelta

from taskqueue.records import LeaseHolder
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection


class RedisLeases(RedisConnection):
    """:class:`~taskqueue.broker.LeaderLease` on Redis."""

    def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> int | None:
        """Take lease ``name`` if free, expired or ``owner``'s; its fencing token, else None."""
        keys = self._lease_keys(name)
        token = self._standalone_script("lease_acquire", keys, owner, wire.ttl_ms(ttl))
        return None if token is None else int(token)

    def renew_lease(self, name: str, owner: str, token: int, ttl: timedelta) -> bool:
        """Extend the lease by ``ttl`` from now; False if ``owner``/``token`` lost it."""
        keys = self._lease_keys(name)[:1]
        renewed = self._standalone_script("lease_renew", keys, owner, token, wire.ttl_ms(ttl))
        return int(renewed) == 1

    def release_lease(self, name: str, owner: str, token: int) -> None:
        """Give the lease up if ``owner``/``token`` hold it."""
        self._standalone_script("lease_release", self._lease_keys(name)[:1], owner, token)

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
        return LeaseHolder(owner.decode(), int(token), wire.instant(now_ms + pttl_ms))
