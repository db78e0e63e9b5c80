"""Which task a call is made from: the parent and root ids a new message carries.

A run sets :func:`running` around the task's function (both pools), so a call made inside
it (``.delay()``, ``send_task``, a workflow) names it as parent and keeps its root; a
callback or chain step sent by the worker names the task that settled (:func:`of_message`).
A context variable, not a global: the threads pool runs several tasks in one process.

The pool also hands the run a :class:`Calls`: the ids of the messages its code sends are
collected there (:func:`sent`) and go back with the outcome, so the task's status lists them
as children without a broker round trip per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from taskqueue.message import Message
from taskqueue.status_details import MAX_CHILDREN


class Calls:
    """The ids of the calls a run's code sent: the first :data:`MAX_CHILDREN`, and how many
    more (a task may send millions; only a count of those is kept)."""

    __slots__ = ("ids", "more")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.more = 0

    def add(self, ids: list[str]) -> None:
        room = MAX_CHILDREN - len(self.ids)
        self.ids.extend(ids[:room])
        self.more += max(len(ids) - room, 0)


class Lineage(NamedTuple):
    """The parent of a new message, the root of its tree, and where the running task's
    calls are collected (None: not a run, e.g. a callback the worker sends)."""

    parent_id: str
    root_id: str
    calls: Calls | None = None


_current: ContextVar[Lineage | None] = ContextVar("beat_task_lineage", default=None)


def current() -> Lineage | None:
    """The running task as a parent (None outside a task)."""
    return _current.get()


def of(task_id: str, root_id: str | None, calls: Calls | None = None) -> Lineage:
    """``task_id`` as a parent; a task with no root is the root of its own tree."""
    return Lineage(task_id, root_id or task_id, calls)


def sent(messages: Sequence[Message]) -> None:
    """Count ``messages``, just sent, as calls of the running task (those naming it as their
    parent: a message given another parent is not its child)."""
    run = _current.get()
    if run is None or run.calls is None:
        return
    run.calls.add([m.id for m in messages if m.headers.parent_id == run.parent_id])


def of_message(message: Message) -> Lineage:
    return of(message.id, message.headers.root_id)


@contextmanager
def running(lineage: Lineage) -> Iterator[None]:
    token = _current.set(lineage)
    try:
        yield
    finally:
        _current.reset(token)
