"""Signatures and workflows: ``t.s()``, ``chain``, ``group``, ``chord`` (Celery's names).

A :class:`Signature` is one call not sent yet: a task name, partial arguments and call
options. It travels inside its parent's message (``link``/``link_error``, see
:mod:`taskqueue.callbacks_wire`) and the worker that settles the parent sends it
(:mod:`worker.consumer.callbacks`), with the parent's result prepended to its args (unless
the signature is immutable, ``t.si()``). Ids are assigned when a workflow is sent, so the
result of a chain (its last task) is known up front and a callback is sent at most once
(enqueue-once by that id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from taskqueue.message import Message, new_task_id
from worker.calling import CallOptions, build_message, send_messages, task_defaults
from worker.lineage import Lineage
from worker.result import GroupResult, TaskResult

__all__ = ["Chain", "Chord", "Group", "Signature", "chain", "chord", "group", "signature"]

_LINKS = ("link", "link_error")
_DURATIONS = ("countdown", "expires", "soft_time_limit", "time_limit", "result_expires")


class Signature:
    """Task ``task`` with partial ``args``/``kwargs`` and call ``options`` (CallOptions'
    keywords; ``link``/``link_error`` are signatures or lists of them)."""

    __slots__ = ("args", "immutable", "kwargs", "options", "task")

    def __init__(
        self,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
    ) -> None:
        if not isinstance(task, str) or not task:
            raise TypeError(f"signature: task must be a task name, got {task!r}")
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise TypeError(f"{task}: args must be a list or tuple, got {type(args).__name__}")
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        self.immutable = immutable
        CallOptions(**{k: v for k, v in self.options.items() if k not in _LINKS})  # TypeError

    def __repr__(self) -> str:
        return f"<Signature {self.task}{self.args!r} {self.kwargs!r} {self.options!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self.to_wire() == other.to_wire()

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Signature | Chain) -> Chain:
        return chain(self, other)

    def clone(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Signature:
        """A copy with ``args`` prepended (as Celery: a callback's result comes first) unless
        immutable, ``kwargs`` and ``options`` merged over this one's."""
        merged_args = self.args if self.immutable else tuple(args) + self.args
        return Signature(
            self.task,
            merged_args,
            {**self.kwargs, **(kwargs or {})},
            {**self.options, **options},
            immutable=self.immutable,
        )

    def set(self, **options: Any) -> Signature:
        """Set call options on this signature (Celery's ``set``); returns it."""
        CallOptions(**{k: v for k, v in options.items() if k not in _LINKS})
        self.options.update(options)
        return self

    def link(self, callback: Signature) -> Signature:
        """Run ``callback`` with this task's result when it succeeds; returns ``callback``."""
        self.options["link"] = [*_as_list(self.options.get("link")), callback]
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Run ``errback(task_id, error)`` when this task finally fails; returns ``errback``."""
        self.options["link_error"] = [*_as_list(self.options.get("link_error")), errback]
        return errback

    on_error = link_error

    def freeze(self, task_id: str | None = None) -> str:
        """Fix this signature's task id (``task_id``, its own, or a new one); the id."""
        fixed = task_id or self.options.get("task_id") or new_task_id()
        self.options["task_id"] = fixed
        return str(fixed)

    @property
    def id(self) -> str | None:
        task_id = self.options.get("task_id")
        return None if task_id is None else str(task_id)

    def apply_async(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> TaskResult:
        """Send this call, ``args`` prepended to the partial ones; its TaskResult."""
        return send_messages([self.call_message(args, kwargs, **options)])[0]

    def call_message(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Message:
        """The message :meth:`apply_async` sends (built, not sent: a group sends its
        members' together)."""
        s = self.clone(args, kwargs, **options)
        options_ = CallOptions(**s.options)
        return build_message(s.task, s.args, s.kwargs, options_, task_defaults(s.task))

    def delay(self, *args: Any, **kwargs: Any) -> TaskResult:
        return self.apply_async(args, kwargs)

    def message(self, default_id: str, parent: Lineage | None = None) -> Message:
        """This call as a message (its id: its own task_id, else ``default_id``), sent by
        ``parent`` (a worker sending a callback: the task that settled)."""
        options = CallOptions(**{**self.options, "task_id": self.id or default_id})
        defaults = task_defaults(self.task)
        return build_message(self.task, self.args, self.kwargs, options, defaults, parent)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object carried in a message (durations as seconds)."""
        options: dict[str, Any] = {}
        for key, value in self.options.items():
            if key in _LINKS:
                options[key] = [s.to_wire() for s in _as_list(value)]
            elif isinstance(value, datetime):
                raise ValueError(
                    f"{self.task}: {key} of a signature must be relative (countdown, seconds),"
                    " not a datetime: the callback is sent when its parent ends"
                )
            elif key in _DURATIONS and isinstance(value, timedelta):
                options[key] = value.total_seconds()
            elif value is not None:
                options[key] = value
        if self.immutable:
            options["immutable"] = True
        wire: dict[str, Any] = {"task": self.task, "args": list(self.args)}
        if self.kwargs:
            wire["kwargs"] = self.kwargs
        if options:
            wire["options"] = options
        return wire

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Signature:
        """The signature of a wire object (shape checked by the decoder); TypeError or
        ValueError naming the option that is wrong."""
        options = dict(raw.get("options", {}))
        immutable = options.pop("immutable", False) is True
        for key in _LINKS:
            if key in options:
                options[key] = [cls.from_wire(s) for s in options[key]]
        args, kwargs = raw.get("args", ()), raw.get("kwargs")
        return cls(raw["task"], args, kwargs, options, immutable=immutable)


def signature(
    task: str | Signature,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> Signature:
    """A signature of the task named ``task`` (its code need not be importable here)."""
    if isinstance(task, Signature):
        return task.clone(args, kwargs, **options)
    return Signature(task, args, kwargs, options)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _signature(value: object, expected: str) -> Signature:
    """``value``, checked to be a signature: else TypeError, ``expected`` and what it got."""
    if not isinstance(value, Signature):
        raise TypeError(f"{expected}, got {type(value).__name__}")
    return value


def _own_id(options: dict[str, Any]) -> str:
    """The id a group or chord goes by: ``task_id`` taken out of the call's ``options`` (the
    members get their own), else a new one."""
    return str(options.pop("task_id", None) or new_task_id())


class Chain:
    """Tasks run one after the other, each result prepended to the next one's args."""

    tasks: list[Signature]

    def __init__(self, *tasks: Signature | Chain) -> None:
        steps: list[Signature] = []
        for t in tasks:
            if isinstance(t, Chain):
                steps.extend(t.tasks)
            else:
                steps.append(_signature(t, "chain: expected signatures"))
        if not steps:
            raise ValueError("chain: needs at least one signature")
        self.tasks = steps

    def __or__(self, other: Signature | Chain) -> Chain:
        return Chain(self, other)

    def apply_async(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> TaskResult:
        """Send the first step (``args``/``kwargs`` and ``options`` go to it); the result of
        the last step. ``link`` runs after the last step, ``link_error`` after any step that
        fails (the steps after it are then FAILURE too: see worker.consumer.callbacks)."""
        link = options.pop("link", None)
        link_error = _as_list(options.pop("link_error", None))
        steps = [s.clone() for s in self.tasks]
        for s in steps:
            s.freeze()
            for errback in link_error:
                s.link_error(errback)
        for callback in _as_list(link):
            steps[-1].link(callback)
        for current, following in zip(reversed(steps[:-1]), reversed(steps[1:]), strict=True):
            current.options["link"] = [following, *_as_list(current.options.get("link"))]
        steps[0].apply_async(args, kwargs, **options)
        return TaskResult(steps[-1].freeze())

    def delay(self, *args: Any, **kwargs: Any) -> TaskResult:
        return self.apply_async(args, kwargs)


def chain(*tasks: Signature | Chain) -> Chain:
    return Chain(*tasks)


class Group:
    """Tasks sent together; the :class:`GroupResult` returns their results in order."""

    def __init__(self, *tasks: Signature | Iterable[Signature]) -> None:
        members: list[Signature] = []
        for t in tasks:
            members.extend([t] if isinstance(t, Signature) else list(t))
        self.tasks = [_signature(m, "group: expected signatures") for m in members]

    def apply_async(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> GroupResult:
        """Send every member (each gets ``args`` prepended and ``options``), in one batch."""
        group_id = _own_id(options)
        results = send_messages([m.call_message(args, kwargs, **options) for m in self.tasks])
        return GroupResult(group_id, results)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)


def group(*tasks: Signature | Iterable[Signature]) -> Group:
    """``group([a.s(1), b.s(2)])`` or ``group(a.s(1), b.s(2))``."""
    return Group(*tasks)


class Chord:
    """A group, then ``body`` once with the list of the members' results (in order)."""

    def __init__(self, header: Group | Iterable[Signature], body: Signature) -> None:
        self.header = header if isinstance(header, Group) else Group(header)
        self.body = _signature(body, "chord: the body must be a signature")

    def apply_async(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> TaskResult:
        """Send the members (``args``/``kwargs``/``options`` go to them); the body's result."""
        body = self.body.clone()
        body_id = body.freeze()
        members = self.header.tasks
        if not members:  # as Celery: the body runs at once, with no results
            return body.apply_async(([],))
        chord_id = _own_id(options)
        wire = body.to_wire()
        parts = [
            {"id": chord_id, "index": i, "size": len(members), "callback": wire}
            for i in range(len(members))
        ]
        send_messages(
            [
                m.call_message(args, kwargs, chord=p, **options)
                for m, p in zip(members, parts, strict=True)
            ]
        )
        return TaskResult(body_id)

    def delay(self, *args: Any, **kwargs: Any) -> TaskResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> TaskResult:
        return self.apply_async(args, kwargs)


def chord(header: Group | Iterable[Signature], body: Signature | None = None) -> Chord:
    if body is None:
        raise TypeError("chord: give the body: chord(header, body)")
    return Chord(header, body)
