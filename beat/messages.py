"""An entry's run as a message: the one place an entry becomes a :class:`Message`, and the
size of the largest message an entry can produce (the config validator refuses an entry that
could never be sent).

Pure and light: the config validator imports it, so it imports neither the state store nor
the broker.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from beat.entries import Entry, TaskOptions
from taskqueue.message import (
    DEFAULT_PRIORITY,
    MAX_MESSAGE_BYTES,
    Headers,
    Message,
    RetryPolicy,
    encoded_unchecked,
    fire_id,
    new_task_id,
)
from taskqueue.message_template import encoded_value_size, json_size_floor

# The instant of a message template's placeholders (see beat.dispatch).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The instants that make a message longest: every instant of a four-digit year with
# microseconds is written with the same number of characters, and the last millisecond of the
# calendar gives the longest fire id.
_WIDEST = datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
_LAST_MS = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


def expiry(start: datetime, expires: timedelta | None) -> datetime | None:
    """When a run started (or scheduled) at ``start`` expires; None for never, including an
    ``expires`` so long it ends past the last instant a datetime can hold."""
    if expires is None:
        return None
    try:
        return start + expires
    except OverflowError:
        return None


def largest_message_size(entry: Entry) -> int:
    """The size in bytes of the largest message ``entry`` can produce, scheduled or triggered.

    Everything but the id and the instants is fixed by the entry, so it is the size of the
    message with the longest id and the widest instants, measured with the real encoder: the
    arguments' encoded sizes plus the rest of the message, which many entries share (cached,
    so that validating 100,000 entries stays cheap). Over
    :data:`~taskqueue.message.MAX_MESSAGE_BYTES` the entry can never be sent: the config
    validator refuses it. When a lower bound of the arguments alone is many times the limit,
    that bound is returned instead, without encoding (a few aliased YAML strings can stand for
    gigabytes).
    """
    arguments = 0  # most entries have none: no encoding at all (start-up cost per entry)
    args, kwargs = entry.args, entry.kwargs
    if args or kwargs:
        # An empty one's floor is 1, as json_size_floor counts it.
        floor = (json_size_floor(args) if args else 1) + (json_size_floor(kwargs) if kwargs else 1)
        if floor > 8 * MAX_MESSAGE_BYTES:
            return floor
        # "[]" and "{}": the empty arguments already counted in the rest of the message.
        if args:
            arguments += encoded_value_size(list(args)) - 2
        if kwargs:
            arguments += encoded_value_size(kwargs) - 2
    name_size = len(entry.name)
    if not _PLAIN_NAME.fullmatch(entry.name):  # validated names always are; others: measure
        name_size = encoded_value_size(entry.name) - 2
    key = (entry.task, entry.queue, entry.options, name_size)
    rest = _REST_SIZES.get(key)
    if rest is None:
        if len(_REST_SIZES) >= 4096:
            _REST_SIZES.clear()
        rest = _REST_SIZES[key] = _rest_size(
            entry.replace(name="n" * name_size, args=(), kwargs={})
        )
    return arguments + rest


# Characters JSON writes as themselves: such a name's encoded size is its length.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:@-]*")
# Sizes of the rest of the largest message by (task, queue, options, length of the name).
_REST_SIZES: dict[tuple[str, str, TaskOptions, int], int] = {}


def _rest_size(entry: Entry) -> int:
    """The size of the largest message of ``entry`` (without arguments, see above)."""
    longest_id = max(fire_id(entry.name, _LAST_MS), new_task_id(), key=len)
    message = build_message(
        entry, message_id=longest_id, enqueued_at=_WIDEST, scheduled_for=_WIDEST, eta=_WIDEST
    )
    if entry.options.expires is not None and message.expires is None:
        message = replace(message, expires=_WIDEST)
    return len(encoded_unchecked(message))


def retry_policy(entry: Entry) -> RetryPolicy:
    o = entry.options
    default = RetryPolicy()
    return RetryPolicy(
        max_retries=o.max_retries if o.max_retries is not None else default.max_retries,
        backoff=o.retry_backoff if o.retry_backoff is not None else default.backoff,
        backoff_max=o.retry_backoff_max if o.retry_backoff_max is not None else default.backoff_max,
    )


def build_message(
    entry: Entry,
    *,
    message_id: str,
    enqueued_at: datetime,
    scheduled_for: datetime | None,
    eta: datetime | None = None,
) -> Message:
    """The message for one run of ``entry``; ``expires`` counts from the scheduled instant
    (or from the enqueue instant for a manual trigger)."""
    o = entry.options
    start = scheduled_for or enqueued_at
    return Message(
        id=message_id,
        task=entry.task,
        queue=entry.queue,
        args=tuple(entry.args),
        kwargs=dict(entry.kwargs),
        priority=o.priority if o.priority is not None else DEFAULT_PRIORITY,
        eta=eta,
        expires=expiry(start, o.expires),
        soft_time_limit=o.soft_time_limit,
        time_limit=o.time_limit,
        retry=retry_policy(entry),
        headers=Headers(enqueued_at=enqueued_at, entry=entry.name, scheduled_for=scheduled_for),
    )


def trigger_message(entry: Entry, now: datetime) -> Message:
    """A run of ``entry``'s task now, outside its schedule (``beat trigger``, the dashboard):
    a manual run is not a scheduled fire, so a random id and no ``scheduled_for``. Raises
    ValueError for a message the broker would refuse (too large)."""
    from taskqueue.message import new_task_id

    message = build_message(entry, message_id=new_task_id(), enqueued_at=now, scheduled_for=None)
    message.encode()
    return message
