"""Open a broker from its URL."""

from __future__ import annotations

from taskqueue.broker import Broker
from taskqueue.errors import UnknownBrokerURL
from taskqueue.redact import redact_text, redact_url
from taskqueue.redis_url import is_redis_url, kombu_sentinel_hint

__all__ = ["is_redis_url", "open_broker", "redact_text", "redact_url"]


def open_broker(url: str) -> Broker:
    """Open the broker at ``url`` (``redis://``, ``rediss://``, ``unix://``,
    ``redis+sentinel://`` (see :mod:`taskqueue.redis_url`), ``sqlite:///path``).

    Imports the implementation lazily so that a CLI command that needs no broker pays nothing.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if is_redis_url(url):
        from taskqueue.redis import RedisBroker

        return RedisBroker(url)
    if scheme == "sqlite":
        from taskqueue.sqlite import SQLiteBroker

        return SQLiteBroker(url)
    raise UnknownBrokerURL(url, kombu_sentinel_hint(url))
