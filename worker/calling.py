"""Calling tasks from application code: ``send_task``, ``Task.delay``/``apply_async``.

Only the wire is needed (a message, the broker's enqueue-once), never the worker's pools. The
process's broker is found the way the commands find it: ``configure(broker=URL)`` if called,
else the ``broker:`` of ``$BEAT_CONFIG`` or of ``./schedules.yaml``, else the default SQLite
queue next to that file (:func:`taskqueue.config_keys.default_broker_url`). It is opened on
first use, shared by threads and reopened in a forked child (:mod:`taskqueue.client`). The
same file's ``routes:`` (or ``configure(routes=...)``) route every call (:func:`routed`); a
call made inside a running task names it as parent (:mod:`worker.lineage`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from taskqueue.callbacks_wire import NO_CALLBACKS, Callbacks
from taskqueue.durations import parse_duration
from taskqueue.message import (
    DEFAULT_PRIORITY,
    Headers,
    Message,
    RetryPolicy,
    new_task_id,
    require_aware,
)
from taskqueue.routes import Route, first_set, match
from worker import lineage
from worker.producer import PRODUCER, ROUTES
from worker.result import TaskResult


@runtime_checkable
class WireForm(Protocol):
    """What ``link=``/``link_error=`` take: a signature (worker.canvas), as a wire object."""

    def to_wire(self) -> dict[str, Any]: ...


class TaskDefaults(Protocol):
    """What a call reads from a registered task: the options it sets itself, which win over
    a route (``max_retries`` 0: not set)."""

    @property
    def queue(self) -> str | None: ...
    @property
    def soft_time_limit(self) -> timedelta | None: ...
    @property
    def time_limit(self) -> timedelta | None: ...
    @property
    def max_retries(self) -> int: ...


# Registered tasks by name (worker.registry installs its lookup): a call of a task whose
# code is imported here uses that task's defaults.
def _nothing_registered(_name: str) -> TaskDefaults | None:
    return None


_lookup: Callable[[str], TaskDefaults | None] = _nothing_registered


def set_task_lookup(lookup: Callable[[str], TaskDefaults | None]) -> None:
    global _lookup
    _lookup = lookup


def task_defaults(name: str) -> TaskDefaults | None:
    return _lookup(name)


__all__ = ["CallOptions", "send_messages", "send_task"]


DEFAULT_QUEUE = "default"
# How long a call may be delayed or kept: seconds, a timedelta or a duration string ("30s").
Duration = float | int | timedelta | str


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The options of one call (``apply_async``'s keywords, ``send_task``'s ``**options``)."""

    countdown: Duration | None = None
    eta: datetime | None = None
    expires: Duration | datetime | None = None
    queue: str | None = None
    priority: int | None = None
    task_id: str | None = None
    soft_time_limit: Duration | None = None
    time_limit: Duration | None = None
    max_retries: int | None = None
    # How long this call's status and result are kept after it ends (default: 1 day).
    result_expires: Duration | None = None
    # Signatures (worker.canvas) run after this call: link on success, link_error on failure.
    link: Any = None
    link_error: Any = None
    # Internal: the chord this call is a member of (set by worker.canvas.chord).
    chord: dict[str, Any] | None = None


def send_task(
    name: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> TaskResult:
    """Send task ``name`` (its code need not be importable here); its :class:`TaskResult`.

    ``options`` are :class:`CallOptions`'s fields; an unknown one is a TypeError.
    """
    return call(name, args, kwargs, CallOptions(**options), None)


def call(
    name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    options: CallOptions,
    task: TaskDefaults | None,
) -> TaskResult:
    """Enqueue one call of ``name`` with ``options`` over ``task``'s defaults (if known).

    A ``task_id`` already sent within the dedupe window is not sent again (enqueue-once): the
    result is that first call's.
    """
    return send_messages([build_message(name, args, kwargs, options, task)])[0]


def send_messages(messages: Sequence[Message]) -> list[TaskResult]:
    """Enqueue ``messages``, each enqueue-once by its id, in one batch (one round trip on
    Redis: a group's members go together); their results, in order. Every message is built
    (and checked) before any is sent."""
    broker = PRODUCER.get()
    broker.enqueue_many(messages)
    lineage.sent(messages)  # inside a task: its children (its status lists them)
    return [TaskResult(m.id, broker=broker) for m in messages]


def build_message(
    name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    options: CallOptions,
    task: TaskDefaults | None,
    parent: lineage.Lineage | None = None,
) -> Message:
    """The message of one call; ValueError/TypeError naming the option that is wrong.
    ``parent``: the task sending it (default: the task running here, if any)."""
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise TypeError(f"{name}: args must be a list or tuple, got {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"{name}: kwargs must be a mapping, got {type(kwargs).__name__}")
    now = datetime.now(UTC)
    options = routed(name, options, task, match(ROUTES.get(), name))
    sender = parent or lineage.current()
    return Message(
        id=options.task_id or new_task_id(),
        task=name,
        queue=options.queue or DEFAULT_QUEUE,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        priority=DEFAULT_PRIORITY if options.priority is None else options.priority,
        eta=_eta(name, options, now),
        expires=_expires(name, options.expires, now),
        # Unset limits stay unset: the worker applies the task's own (resolve_limits).
        soft_time_limit=_limit(name, "soft_time_limit", options.soft_time_limit),
        time_limit=_limit(name, "time_limit", options.time_limit),
        retry=_retry(name, options.max_retries),
        callbacks=_callbacks(name, options),
        result_expires=_limit(name, "result_expires", options.result_expires),
        headers=Headers(
            enqueued_at=now,
            parent_id=sender.parent_id if sender else None,
            root_id=sender.root_id if sender else None,
        ),
    )


def routed(
    name: str, options: CallOptions, task: TaskDefaults | None, route: Route | None
) -> CallOptions:
    """``options`` with the unset ones taken from ``task`` (``@task``), then ``route``: the
    precedence of :mod:`taskqueue.routes`. An option the task sets itself is left unset for
    the worker to apply (the task's own value is the worker's default)."""
    if route is None and (task is None or task.queue is None):
        return options
    own_soft = task.soft_time_limit if task is not None else None
    own_hard = task.time_limit if task is not None else None
    own_retries = task.max_retries if task is not None and task.max_retries > 0 else None
    return replace(
        options,
        queue=first_set(options.queue, task.queue if task else None, route and route.queue),
        priority=first_set(options.priority, route and route.priority),
        expires=first_set(options.expires, route and route.expires),
        soft_time_limit=_unless_own(options.soft_time_limit, own_soft, route, "soft_time_limit"),
        time_limit=_unless_own(options.time_limit, own_hard, route, "time_limit"),
        max_retries=_unless_own(options.max_retries, own_retries, route, "max_retries"),
    )


def _unless_own(explicit: Any, own: Any, route: Route | None, key: str) -> Any:
    if explicit is not None or own is not None or route is None:
        return explicit
    return getattr(route, key)


def _eta(name: str, options: CallOptions, now: datetime) -> datetime | None:
    if options.eta is not None and options.countdown is not None:
        raise ValueError(f"{name}: give countdown or eta, not both")
    if options.eta is not None:
        if not isinstance(options.eta, datetime):
            raise TypeError(f"{name}: eta must be a datetime, got {type(options.eta).__name__}")
        # Naive is refused, never read as local time (Celery's trap).
        return require_aware(options.eta, f"{name}: eta")
    if options.countdown is not None:
        return now + parse_duration(options.countdown, f"{name}: countdown", allow_zero=True)
    return None


def _expires(name: str, value: Duration | datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return require_aware(value, f"{name}: expires")
    return now + parse_duration(value, f"{name}: expires")


def _limit(name: str, option: str, value: Duration | None) -> timedelta | None:
    return None if value is None else parse_duration(value, f"{name}: {option}")


def _callbacks(name: str, options: CallOptions) -> Callbacks:
    if options.link is None and options.link_error is None and options.chord is None:
        return NO_CALLBACKS
    return Callbacks(
        link=signatures_to_wire(options.link, f"{name}: link"),
        link_error=signatures_to_wire(options.link_error, f"{name}: link_error"),
        chord=options.chord,
    )


def signatures_to_wire(value: Any, what: str) -> tuple[dict[str, Any], ...]:
    """``link=``/``link_error=`` (a signature, a list of them, or None) as wire objects."""
    items = [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, WireForm):
            raise TypeError(f"{what}: expected a signature (t.s()), got {type(item).__name__}")
    return tuple(s.to_wire() for s in items)


def _retry(name: str, max_retries: int | None) -> RetryPolicy:
    if max_retries is None:
        return RetryPolicy()  # the worker applies the task's own max_retries
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"{name}: max_retries must be a non-negative integer, got {max_retries!r}")
    return RetryPolicy(max_retries=max_retries)
