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

from taskqueue.callbacks_wire import (
    NO_CALLBACKS,
    Callbacks,
    callbacks_from_wire,
    callbacks_to_wire,
)
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
    """Where a message came from. ``entry``/``scheduled_for`` are set for scheduled fires;
    ``parent_id``/``root_id`` for a task sent by another (a call made inside a running task,
    a chain step, a callback, a chord body): the sender, and the top of the tree. Both are
    absent from the wire when None, so such messages keep their exact old bytes."""

    enqueued_at: datetime
    entry: str | None = None
    scheduled_for: datetime | None = None
    parent_id: str | None = None
    root_id: str | None = None


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
    callbacks: Callbacks = NO_CALLBACKS  # link/link_error/chord (taskqueue.callbacks_wire)
    # How long the task's status and result are kept once it ends (None: the worker's default).
    result_expires: timedelta | None = None
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
        for name in ("soft_time_limit", "time_limit", "result_expires"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name}: must be positive, got {value}")

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def next_attempt(self) -> Message:
        return replace(self, attempt=self.attempt + 1)

    def encode(self) -> bytes:
        """The wire bytes; raises :class:`MessageTooLarge` over :data:`MAX_MESSAGE_BYTES`."""
        return within_limit(self.id, encoded_unchecked(self))

    @classmethod
    def decode(cls, data: bytes | str) -> Message:
        """Parse a wire message; anything malformed raises :class:`DecodeError`."""
        too_large = _size_problem(data)
        if too_large is not None:
            raise DecodeError(too_large)
        return _message_from(_load(data))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A payload that is not a message: why, and the ``(task, attempt)`` it names, if it does
    (a broker's claim step reads those two fields to record STARTED)."""

    reason: str
    named: tuple[str, int] | None = None


def decode_payload(data: bytes | str) -> Message | Unreadable:
    """A claimed payload as a :class:`Message`, or :class:`Unreadable` saying why it is not one.

    The worker's one decode of a payload: the JSON is parsed once, and a payload that is no
    message still names its task and attempt when it can, so that the STARTED state the broker
    recorded under them can be replaced.
    """
    too_large = _size_problem(data)
    try:
        raw = _load(data)
    except DecodeError as e:
        return Unreadable(too_large or e.reason)
    if too_large is not None:
        return Unreadable(too_large, _named(raw))
    try:
        return _message_from(raw)
    except DecodeError as e:
        return Unreadable(e.reason, _named(raw))


def named_task(data: bytes | str) -> tuple[str, int] | None:
    """(task, attempt) that a payload names, valid message or not; None if it names neither.

    For a broker's claim step, which records STARTED under them before any worker decodes
    the payload (the worker dead-letters a payload that is no message and replaces that state).
    """
    try:
        return _named(_load(data))
    except DecodeError:
        return None


def _size_problem(data: bytes | str) -> str | None:
    if len(data) > MAX_MESSAGE_BYTES:
        return f"{len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
    return None


def _load(data: bytes | str) -> Any:
    """The JSON value of ``data``: the one ``json.loads`` of a message payload."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise DecodeError(f"not JSON: {e}") from e
    except RecursionError as e:
        # A payload of thousands of nested brackets fits in 1 MiB; it is garbage, not a crash.
        raise DecodeError("JSON nested too deeply") from e


def _message_from(raw: Any) -> Message:
    if not isinstance(raw, dict):
        raise DecodeError(f"expected a JSON object, got {type(raw).__name__}")
    try:
        return _from_wire(raw)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError, RecursionError) as e:
        raise DecodeError(f"{type(e).__name__}: {e}") from e


def _named(raw: Any) -> tuple[str, int] | None:
    """(task, attempt) of a decoded JSON value that is no valid message, if it names them."""
    try:
        task, attempt = raw["task"], raw["attempt"]
    except (TypeError, KeyError, IndexError):
        return None
    if not isinstance(task, str) or not isinstance(attempt, int | float):
        return None
    try:
        return task, int(attempt)
    except (ValueError, OverflowError):  # NaN, Infinity: JSON this decoder accepts
        return None


def encoded_unchecked(message: Message) -> bytes:
    """``message``'s wire bytes whatever their size (to measure them; send with encode())."""
    return dumps_compact(to_wire(message)).encode()


# One encoder for every message: json.dumps builds a new one per call when given options
# (a tenth of a call's encoding time).
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps_compact(value: Any) -> str:
    """The wire's JSON text of ``value``: compact, no NaN."""
    return _COMPACT.encode(value)


def within_limit(message_id: str, data: bytes) -> bytes:
    """``data``, or :class:`MessageTooLarge` if it is over :data:`MAX_MESSAGE_BYTES`."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(message_id, len(data), MAX_MESSAGE_BYTES)
    return data


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def to_wire(m: Message) -> dict[str, Any]:
    wire: dict[str, Any] = {
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
    if m.callbacks:  # absent when empty: the old wire, byte for byte
        wire["callbacks"] = callbacks_to_wire(m.callbacks)
    if m.result_expires is not None:  # likewise
        wire["result_expires_s"] = m.result_expires.total_seconds()
    if m.headers.parent_id is not None:
        wire["headers"]["parent_id"] = m.headers.parent_id
    if m.headers.root_id is not None:
        wire["headers"]["root_id"] = m.headers.root_id
    return wire


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
        "callbacks",
        "result_expires_s",
    ]
)


def parse_instant(raw: Any, what: str) -> datetime | None:
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
    enqueued_at = parse_instant(headers.get("enqueued_at"), "headers.enqueued_at")
    if enqueued_at is None:
        raise DecodeError("headers.enqueued_at: missing")
    entry = headers.get("entry")
    if entry is not None:
        _expect(entry, str, "headers.entry")
    parent_id, root_id = headers.get("parent_id"), headers.get("root_id")
    for value, what in ((parent_id, "headers.parent_id"), (root_id, "headers.root_id")):
        if value is not None:
            _expect(value, str, what)
    try:
        return Message(
            id=_expect(raw["id"], str, "id"),
            task=_expect(raw["task"], str, "task"),
            queue=_expect(raw["queue"], str, "queue"),
            args=tuple(_expect(raw.get("args", []), list, "args")),
            kwargs=_expect(raw.get("kwargs", {}), dict, "kwargs"),
            priority=_expect(raw.get("priority", DEFAULT_PRIORITY), int, "priority"),
            eta=parse_instant(raw.get("eta"), "eta"),
            expires=parse_instant(raw.get("expires"), "expires"),
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
                scheduled_for=parse_instant(headers.get("scheduled_for"), "headers.scheduled_for"),
                parent_id=parent_id,
                root_id=root_id,
            ),
            callbacks=callbacks_from_wire(raw.get("callbacks")),
            result_expires=_parse_seconds(raw.get("result_expires_s"), "result_expires_s"),
        )
    except ValueError as e:
        if isinstance(e, DecodeError):
            raise
        raise DecodeError(str(e)) from e
