"""Open a broker from its URL, and redact secrets from URLs for display."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from taskqueue.broker import Broker
from taskqueue.errors import UnknownBrokerURL


def redact_url(url: str) -> str:
    """``redis://:secret@host/0`` -> ``redis://:***@host/0``; anything without a password as is."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def open_broker(url: str) -> Broker:
    """Open the broker at ``url`` (``redis://``, ``rediss://``, ``sqlite:///path``).

    Imports the implementation lazily so that a CLI command that needs no broker pays nothing.
    """
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        from taskqueue.redis import RedisBroker

        return RedisBroker(url)
    if scheme == "sqlite":
        from taskqueue.sqlite import SQLiteBroker

        return SQLiteBroker(url)
    raise UnknownBrokerURL(url)
