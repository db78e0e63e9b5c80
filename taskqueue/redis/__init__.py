"""The Redis broker: the production queue, shared by many beats and workers on many hosts.

One class per role, all on one :class:`~taskqueue.redis.connection.RedisConnection` (the
client, error translation, the Lua scripts): :mod:`~taskqueue.redis.enqueue` (enqueue-once),
:mod:`~taskqueue.redis.delivery` (claim, settle, extend, release, recover, heartbeats; the
server's clock), :mod:`~taskqueue.redis.inspection` (queue figures, dead letters),
:mod:`~taskqueue.redis.states` (task statuses), :mod:`~taskqueue.redis.leases` (leader
leases). :class:`RedisBroker` is all of them.

Cluster: keys are Cluster-ready, but this class uses a plain ``redis.Redis`` client, and a claim
over several queues BLPOPs their notify lists together (several slots); a Cluster deployment
would claim from one queue per call.
"""

from __future__ import annotations

from taskqueue.redis.chords import RedisChords
from taskqueue.redis.delivery import RedisConsumer
from taskqueue.redis.enqueue import RedisProducer
from taskqueue.redis.inspection import RedisInspection
from taskqueue.redis.leases import RedisLeases
from taskqueue.redis.maintenance import RedisMaintenance
from taskqueue.redis.revocations import RedisRevocations
from taskqueue.redis.states import RedisStates
from taskqueue.redis.workers import RedisWorkers

__all__ = ["RedisBroker"]


class RedisBroker(
    RedisProducer,
    RedisConsumer,
    RedisInspection,
    RedisStates,
    RedisLeases,
    RedisChords,
    RedisWorkers,
    RedisRevocations,
    RedisMaintenance,
):
    """:class:`~taskqueue.broker.Broker` on Redis (``redis://``, ``rediss://``, ``unix://``).

    ``url`` may carry a user and password (``redis://user:pw@host:6379/0``) and a database
    index; ``self.url`` is the URL with the password redacted. Connections are made lazily and
    shared by threads; a forked child opens its own (redis-py's pool checks the pid).
    """

    def __repr__(self) -> str:
        return f"RedisBroker({self.url!r})"
