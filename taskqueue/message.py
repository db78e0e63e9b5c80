"""The task message: a frozen record with a versioned JSON encoding.

JSON only, never pickle: a message names a task by its registered name and carries plain JSON
arguments, so decoding a message can never import or run code.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from taskqueue.errors import DecodeError, MessageTooLarge

FORMAT_VERSION = 1
# A message larger than this is refused at encode and at decode: a queue is not a blob store,
# and one huge message must not stall a worker or exhaust Redis memory.
MAX_MESSAGE_BYTES = 1_048_576
MIN_PRIORITY = 0
MAX_PRIORITY = 9  # higher runs first, as in AMQP
DEFAULT_PRIORITY = 0


def require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` converted to UTC, refusing naive datetimes."""
    if value.tzinfo is UTC:
        # Already UTC (every instant beat computes): skip utcoffset()/astimezone(), which are
        # most of the cost of building 100,000 fire ids and messages in a burst.
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value.isoformat()} (a UTC offset is required)")
    return value.astimezone(UTC)


def new_task_id() -> str:
    return uuid.uuid4().hex


def fire_id(entry: str, scheduled_for: datetime) -> str:
    """The deterministic id of one fire of one entry.

    Built from the entry name and the scheduled instant in UTC milliseconds (as arq does), so
    two beats, a replay after a crash, or a catch-up produce the same id for the same fire and
    the broker's enqueue-once refuses the second.
    """
    instant = require_aware(scheduled_for, "scheduled_for")
    return f"{entry}@{int(instant.timestamp() * 1000)}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed task is retried: exponential backoff with full jitter, capped."""

    max_retries: int = 0
    backoff: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries: {self.max_retries} is negative")
        if self.backoff < timedelta(0) or self.backoff_max < timedelta(0):
            raise ValueError("retry backoff must not be negative")


@dataclass(frozen=True, slots=True)
class Headers:
    """Where a message came from. ``entry``/``scheduled_for`` are set for scheduled fires."""

    enqueued_at: datetime
    entry: str | None = None
    scheduled_for: datetime | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One task to run. All instants are aware UTC; durations are timedeltas."""

    id: str
    task: str
    queue: str = "default"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    priority: int = DEFAULT_PRIORITY
    eta: datetime | None = None
    expires: datetime | None = None
    soft_time_limit: timedelta | None = None
    time_limit: timedelta | None = None
    retry: RetryPolicy = RetryPolicy()
    attempt: int = 0  # 0 for the first run, n for the n-th retry
    headers: Headers = field(default_factory=lambda: Headers(enqueued_at=datetime.now(UTC)))
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: must not be empty")
        if not self.task:
            raise ValueError("task: must not be empty")
        if not self.queue:
            raise ValueError("queue: must not be empty")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(
                f"priority: {self.priority} is out of range {MIN_PRIORITY}-{MAX_PRIORITY}"
            )
        if self.attempt < 0:
            raise ValueError(f"attempt: {self.attempt} is negative")
        for name in ("eta", "expires"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, name)
        for name in ("soft_time_limit", "time_limit"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name}: must be positive, got {value}")

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def next_attempt(self) -> Message:
        return replace(self, attempt=self.attempt + 1)

    def encode(self) -> bytes:
        """The wire bytes; raises :class:`MessageTooLarge` over :data:`MAX_MESSAGE_BYTES`."""
        return _within_limit(self.id, encoded_unchecked(self))

    @classmethod
    def decode(cls, data: bytes | str) -> Message:
        """Parse a wire message; anything malformed raises :class:`DecodeError`."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise DecodeError(f"{len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise DecodeError(f"not JSON: {e}") from e
        except RecursionError as e:
            # A payload of thousands of nested brackets fits in 1 MiB; it is garbage, not a crash.
            raise DecodeError("JSON nested too deeply") from e
        if not isinstance(raw, dict):
            raise DecodeError(f"expected a JSON object, got {type(raw).__name__}")
        try:
            return _from_wire(raw)
        except DecodeError:
            raise
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
            raise DecodeError(f"{type(e).__name__}: {e}") from e


def encoded_unchecked(message: Message) -> bytes:
    """``message``'s wire bytes whatever their size (to measure them; send with encode())."""
    return _dumps(_to_wire(message)).encode()


def encoded_value_size(value: Any) -> int:
    """The bytes ``value`` (args as a list, or kwargs) takes inside an encoded message: the
    wire encoding is one JSON object, so each field's text is the same alone or in it."""
    return len(_dumps(value))  # ensure_ascii: one byte per character


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _within_limit(message_id: str, data: bytes) -> bytes:
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(message_id, len(data), MAX_MESSAGE_BYTES)
    return data


def json_size_floor(value: Any) -> int:
    """A lower bound of the bytes ``value`` takes in JSON, in time linear in its number of
    values whatever their lengths (a string shared a thousand times costs a thousand len()).

    Lets a caller refuse an enormous value without encoding it: aliases in YAML can make a
    small document stand for a huge one.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 1 + len(item)  # braces, colons and commas
            for key, child in item.items():
                total += len(key) + 2 if isinstance(key, str) else 2
                stack.append(child)
        elif isinstance(item, list | tuple):
            total += 1 + len(item)
            stack.extend(item)
        else:
            total += 1
    return total


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _to_wire(m: Message) -> dict[str, Any]:
    return {
        "v": m.version,
        "id": m.id,
        "task": m.task,
        "queue": m.queue,
        "args": list(m.args),
        "kwargs": m.kwargs,
        "priority": m.priority,
        "eta": _instant(m.eta),
        "expires": _instant(m.expires),
        "soft_time_limit_s": _seconds(m.soft_time_limit),
        "time_limit_s": _seconds(m.time_limit),
        "retry": {
            "max_retries": m.retry.max_retries,
            "backoff_s": m.retry.backoff.total_seconds(),
            "backoff_max_s": m.retry.backoff_max.total_seconds(),
        },
        "attempt": m.attempt,
        "headers": {
            "enqueued_at": _instant(m.headers.enqueued_at),
            "entry": m.headers.entry,
            "scheduled_for": _instant(m.headers.scheduled_for),
        },
    }


_WIRE_KEYS = frozenset(
    [
        "v",
        "id",
        "task",
        "queue",
        "args",
        "kwargs",
        "priority",
        "eta",
        "expires",
        "soft_time_limit_s",
        "time_limit_s",
        "retry",
        "attempt",
        "headers",
    ]
)


def _parse_instant(raw: Any, what: str) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise DecodeError(f"{what}: expected an ISO-8601 string, got {type(raw).__name__}")
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise DecodeError(f"{what}: naive datetime {raw!r}")
    return value.astimezone(UTC)


def _parse_seconds(raw: Any, what: str) -> timedelta | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise DecodeError(f"{what}: expected a number of seconds, got {type(raw).__name__}")
    return timedelta(seconds=raw)


def _expect(raw: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(raw, bool) and kind is int:
        raise DecodeError(f"{what}: expected int, got bool")
    if not isinstance(raw, kind):
        raise DecodeError(f"{what}: expected {kind}, got {type(raw).__name__}")
    return raw


def _from_wire(raw: dict[str, Any]) -> Message:
    version = raw.get("v")
    if version != FORMAT_VERSION:
        raise DecodeError(f"unsupported format version {version!r} (expected {FORMAT_VERSION})")
    unknown = set(raw) - _WIRE_KEYS
    if unknown:
        raise DecodeError(f"unknown fields {sorted(unknown)}")
    retry = _expect(raw.get("retry", {}), dict, "retry")
    headers = _expect(raw["headers"], dict, "headers")
    enqueued_at = _parse_instant(headers.get("enqueued_at"), "headers.enqueued_at")
    if enqueued_at is None:
        raise DecodeError("headers.enqueued_at: missing")
    entry = headers.get("entry")
    if entry is not None:
        _expect(entry, str, "headers.entry")
    try:
        return Message(
            id=_expect(raw["id"], str, "id"),
            task=_expect(raw["task"], str, "task"),
            queue=_expect(raw["queue"], str, "queue"),
            args=tuple(_expect(raw.get("args", []), list, "args")),
            kwargs=_expect(raw.get("kwargs", {}), dict, "kwargs"),
            priority=_expect(raw.get("priority", DEFAULT_PRIORITY), int, "priority"),
            eta=_parse_instant(raw.get("eta"), "eta"),
            expires=_parse_instant(raw.get("expires"), "expires"),
            soft_time_limit=_parse_seconds(raw.get("soft_time_limit_s"), "soft_time_limit_s"),
            time_limit=_parse_seconds(raw.get("time_limit_s"), "time_limit_s"),
            retry=RetryPolicy(
                max_retries=_expect(retry.get("max_retries", 0), int, "retry.max_retries"),
                backoff=_parse_seconds(retry.get("backoff_s", 1.0), "retry.backoff_s")
                or timedelta(0),
                backoff_max=_parse_seconds(retry.get("backoff_max_s", 600.0), "retry.backoff_max_s")
                or timedelta(0),
            ),
            attempt=_expect(raw.get("attempt", 0), int, "attempt"),
            headers=Headers(
                enqueued_at=enqueued_at,
                entry=entry,
                scheduled_for=_parse_instant(headers.get("scheduled_for"), "headers.scheduled_for"),
            ),
        )
    except ValueError as e:
        if isinstance(e, DecodeError):
            raise
        raise DecodeError(str(e)) from e


# Sentinels marking the varying fields of a MessageTemplate: random per process, so no message
# data can contain them by accident (and a template falls back to encode() if one does).
_SENTINEL_NONCE = uuid.uuid4().hex
_SENTINELS = tuple(
    f"\x00{_SENTINEL_NONCE}:{name}\x00" for name in ("id", "eta", "exp", "enq", "entry", "sched")
)
_SENTINELS_JSON = [json.dumps(x) for x in _SENTINELS]


class MessageTemplate:
    """Encodes many messages that differ only in id, entry name and instants, ~3x faster than
    encode().

    Beat sends the same message shape again and again; everything but the id, the entry name,
    the scheduled and enqueue instants, the eta and the expiry is fixed. The base message is
    validated and encoded once, with sentinels where the varying fields go; rendering then joins
    pre-encoded fragments, so entries that differ only by name share one template. The output is
    byte for byte what ``replace(base, ...)`` would encode to (tested). Should a sentinel ever
    occur in the message's own data, the template falls back to the plain encoder.
    """

    __slots__ = ("_entry_json", "_fragments", "base")

    def __init__(self, base: Message) -> None:
        self.base = base
        wire = _to_wire(base)
        wire["id"], wire["eta"], wire["expires"] = _SENTINELS[0], _SENTINELS[1], _SENTINELS[2]
        headers = wire["headers"]
        headers["enqueued_at"], headers["entry"], headers["scheduled_for"] = _SENTINELS[3:]
        text = json.dumps(wire, separators=(",", ":"), allow_nan=False)
        self._fragments = _split_on(text, _SENTINELS_JSON)
        self._entry_json = json.dumps(base.headers.entry)

    def render(
        self,
        message_id: str,
        *,
        enqueued_at: datetime,
        scheduled_for: datetime | None = None,
        eta: datetime | None = None,
        expires: datetime | None = None,
        entry: str | None = None,
    ) -> bytes:
        """The wire bytes of the base message with these fields; instants must be aware.
        ``entry`` replaces the base message's entry name when given."""
        f = self._fragments
        if f is None:
            headers = replace(
                self.base.headers,
                enqueued_at=enqueued_at,
                scheduled_for=scheduled_for,
                entry=self.base.headers.entry if entry is None else entry,
            )
            return replace(
                self.base, id=message_id, eta=eta, expires=expires, headers=headers
            ).encode()
        data = "".join(
            (
                f[0],
                json.dumps(message_id),
                f[1],
                _json_instant(eta),
                f[2],
                _json_instant(expires),
                f[3],
                _json_instant(enqueued_at),
                f[4],
                self._entry_json if entry is None else json.dumps(entry),
                f[5],
                _json_instant(scheduled_for),
                f[6],
            )
        ).encode()
        return _within_limit(message_id, data)

    def render_json(
        self,
        message_id: str,
        *,
        enqueued_at: str,
        scheduled_for: str = "null",
        eta: str = "null",
        expires: str = "null",
        entry: str | None = None,
        json_strings: dict[str, str] | None = None,
    ) -> bytes:
        """:meth:`render` with the instants given as JSON literals made by :func:`json_instant`.

        ``json_strings`` is an optional cache of JSON string literals, used for the entry
        name (which repeats every minute).

        For bursts: every fire of a burst shares its enqueue and scheduled instants, so the
        caller formats each distinct instant once instead of once per message (formatting is
        most of :meth:`render`'s cost). Same bytes as :meth:`render` (tested).
        """
        f = self._fragments
        if f is None:
            enqueued = _parse_json_instant(enqueued_at, "enqueued_at")
            if enqueued is None:
                raise ValueError("enqueued_at: must not be null")
            return self.render(
                message_id,
                enqueued_at=enqueued,
                scheduled_for=_parse_json_instant(scheduled_for, "scheduled_for"),
                eta=_parse_json_instant(eta, "eta"),
                expires=_parse_json_instant(expires, "expires"),
                entry=entry,
            )
        data = "".join(
            (
                f[0],
                json.dumps(message_id),
                f[1],
                eta,
                f[2],
                expires,
                f[3],
                enqueued_at,
                f[4],
                self._entry_json if entry is None else _json_string(entry, json_strings),
                f[5],
                scheduled_for,
                f[6],
            )
        ).encode()
        return _within_limit(message_id, data)


def _json_string(text: str, cache: dict[str, str] | None) -> str:
    if cache is None:
        return json.dumps(text)
    literal = cache.get(text)
    if literal is None:
        literal = cache[text] = json.dumps(text)
    return literal


def json_instant(value: datetime | None) -> str:
    """``value`` as the JSON literal the wire format uses (``null`` for None); for
    :meth:`MessageTemplate.render_json`. Refuses naive datetimes."""
    return _json_instant(value)


def _parse_json_instant(literal: str, what: str) -> datetime | None:
    return _parse_instant(json.loads(literal), what)


def _split_on(text: str, separators: list[str]) -> tuple[str, ...] | None:
    """``text`` cut at each separator in order; None unless each occurs exactly once."""
    fragments: list[str] = []
    rest = text
    for separator in separators:
        if text.count(separator) != 1:
            return None
        head, _, rest = rest.partition(separator)
        fragments.append(head)
    fragments.append(rest)
    return tuple(fragments)


def _json_instant(value: datetime | None) -> str:
    if value is None:
        return "null"
    return f'"{require_aware(value, "instant").isoformat()}"'
