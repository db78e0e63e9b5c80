"""Redis broker URLs read into what the client needs: a plain server or a Sentinel service,
and the optional replica acknowledgement of enqueues, claims and settles.

Pure parsing (no redis-py import), so ``beat check`` validates a URL without connecting.

- ``redis://``, ``rediss://``, ``unix://``: redis-py reads the URL itself; our own query
  parameters (below) are taken out first, since redis-py passes unknown ones to the socket.
- ``redis+sentinel://[[user]:password@]host1:26379,host2:26379/service_name[/db]``: the
  sentinels to ask, the monitored service (Sentinel's ``master name``: kombu's
  ``master_name`` transport option) and the database. The password is the data servers';
  ``?sentinel_password=`` is the sentinels' own, if they have one.

Query parameters of ours, on every Redis URL: ``wait_replicas=N`` (after each enqueue, claim
and settle call, WAIT for N replicas to acknowledge it) and ``wait_timeout_ms=T`` (how long
that WAIT may block; default 100).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode

from taskqueue.redact import redact_url

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_WAIT_TIMEOUT_MS = 100
# A WAIT must end well inside the client's socket timeout (5 s by default), or the socket
# gives up first and the call is reported as an outage.
MAX_WAIT_TIMEOUT_MS = 2_000
_WAIT_KEYS = ("wait_replicas", "wait_timeout_ms")
_SENTINEL_KEYS = (*_WAIT_KEYS, "sentinel_password")


@dataclass(frozen=True)
class ReplicaWait:
    """After an enqueue, claim or settle, WAIT ``replicas`` ``timeout_ms`` on the connection
    that wrote it."""

    replicas: int
    timeout_ms: int


@dataclass(frozen=True)
class SentinelService:
    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    username: str | None
    password: str | None
    sentinel_password: str | None


@dataclass(frozen=True)
class RedisTarget:
    """``url``: what redis-py's ``from_url`` gets (plain servers; our parameters removed);
    ``sentinel``: set instead for a ``redis+sentinel://`` URL."""

    url: str
    sentinel: SentinelService | None
    wait: ReplicaWait | None


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def is_redis_url(url: str) -> bool:
    return scheme_of(url) in REDIS_SCHEMES


def _problem(url: str, what: str) -> ValueError:
    return ValueError(f"redis broker URL {redact_url(url)!r}: {what}")


def _int_param(url: str, params: dict[str, str], key: str, low: int, high: int) -> int | None:
    raw = params.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _problem(url, f"query parameter {key}={raw!r}: expected a whole number {low}-{high}")
    return value


def _wait(url: str, params: dict[str, str]) -> ReplicaWait | None:
    replicas = _int_param(url, params, "wait_replicas", 0, 100)
    timeout = _int_param(url, params, "wait_timeout_ms", 1, MAX_WAIT_TIMEOUT_MS)
    if replicas is None and timeout is not None:
        raise _problem(url, "query parameter wait_timeout_ms needs wait_replicas")
    if not replicas:  # absent or 0: no WAIT
        return None
    return ReplicaWait(replicas, timeout or DEFAULT_WAIT_TIMEOUT_MS)


def _split_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    base, _, query = url.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as e:
        raise _problem(url, f"query {query!r} is not name=value&...: {e}") from None
    return base, pairs


def _host_port(url: str, item: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise _problem(url, f"sentinel {item!r}: no host (expected host:port)")
    if not port_text:
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _problem(url, f"sentinel {item!r}: port {port_text!r} is not 1-65535")
    return host, int(port_text)


def _sentinel(url: str, base: str, params: dict[str, str]) -> SentinelService:
    rest = base.split("://", 1)[1]
    authority, _, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    items = [h.strip() for h in hosts.split(",")]
    if not hosts or not all(items):
        raise _problem(url, "expected sentinels as host1:26379,host2:26379 before the path")
    sentinels = tuple(_host_port(url, h) for h in items)
    parts = [p for p in path.split("/")] if path else []
    if not parts or not parts[0]:
        raise _problem(url, "no service name: expected /service_name[/db] after the sentinels")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise _problem(url, f"path /{path}: expected /service_name or /service_name/<db number>")
    return SentinelService(
        sentinels=sentinels,
        service_name=unquote(parts[0]),
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
        sentinel_password=params.get("sentinel_password"),
    )


def parse_redis_url(url: str) -> RedisTarget:
    """Read a Redis broker URL; ValueError naming the part that is wrong (password hidden)."""
    base, pairs = _split_query(url)
    params = dict(pairs)
    wait = _wait(url, params)
    if scheme_of(url) != SENTINEL_SCHEME:
        kept = [(k, v) for k, v in pairs if k not in _WAIT_KEYS]
        plain = f"{base}?{urlencode(kept)}" if kept else base
        return RedisTarget(plain if len(kept) < len(pairs) else url, None, wait)
    unknown = sorted(set(params) - set(_SENTINEL_KEYS))
    if unknown:
        raise _problem(
            url, f"unknown query parameter {unknown[0]!r} (known: {', '.join(_SENTINEL_KEYS)})"
        )
    return RedisTarget(url, _sentinel(url, base, params), wait)


def kombu_sentinel_hint(url: str) -> str | None:
    """For kombu's ``sentinel://h1:26379;sentinel://h2:26379`` (with ``master_name`` in its
    transport options): the URL to write instead; None for any other URL."""
    if scheme_of(url) != "sentinel":
        return None
    hosts = ",".join(
        part.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
        for part in url.split(";")
        if part.strip()
    )
    return (
        f"kombu's sentinel:// URL: write redis+sentinel://{hosts}/<master_name>[/db] "
        "(the master_name of kombu's transport options)"
    )


def redis_url_problem(url: str) -> str | None:
    """What is wrong with Redis broker URL ``url``; None if it reads (or is not a Redis URL)."""
    hint = kombu_sentinel_hint(url)
    if hint is not None:
        return f"broker URL {redact_url(url)!r} is {hint}"
    if not is_redis_url(url):
        return None
    try:
        parse_redis_url(url)
    except ValueError as e:
        return str(e)
    return None
