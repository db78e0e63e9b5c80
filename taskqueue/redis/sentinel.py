"""The client of a Redis primary found through Sentinel (``redis+sentinel://``).

redis-py's ``Sentinel.master_for`` does the work: its pool asks the sentinels for the
primary's address on each new connection, and a connection that meets a demoted primary
(``READONLY``, or a blocking call unblocked by the role change) is dropped with a
ConnectionError, so the next connection finds the new primary. Both errors, and
MasterNotFoundError while the sentinels elect, are ConnectionErrors: the broker reports them
as BrokerUnavailable, which every role retries with backoff.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.sentinel

from taskqueue.redis_url import SentinelService


class _Sentinel(redis.sentinel.Sentinel):
    """redis-py's Sentinel, with a "no primary" error that names each sentinel as host:port
    (redis-py's names each by the repr of its whole client, several hundred characters)."""

    def discover_master(self, service_name: str) -> Any:
        try:
            return super().discover_master(service_name)
        except redis.sentinel.MasterNotFoundError as e:
            text = str(e)
            for sentinel in self.sentinels:
                kwargs = sentinel.connection_pool.connection_kwargs
                text = text.replace(str(sentinel), f"sentinel {kwargs['host']}:{kwargs['port']}")
            raise redis.sentinel.MasterNotFoundError(
                f"{text} (no sentinel answered with a primary: a failover under way, or the "
                "sentinels unreachable)"
            ) from None


def sentinel_client(service: SentinelService, timeout_s: float) -> tuple[Any, Any]:
    """(the Sentinel manager, to close; the client of the service's primary)."""
    sockets = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    sentinel_kwargs: dict[str, Any] = dict(sockets)
    if service.sentinel_password is not None:
        sentinel_kwargs["password"] = service.sentinel_password
    manager = _Sentinel(list(service.sentinels), sentinel_kwargs=sentinel_kwargs)
    client = manager.master_for(
        service.service_name,
        db=service.db,
        username=service.username,
        password=service.password,
        decode_responses=False,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return manager, client
