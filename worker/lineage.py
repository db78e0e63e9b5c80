"""Which task a call is made from: the parent and root ids a new message carries.

A run sets :func:`running` around the task's function (both pools), so a call made inside
it (``.delay()``, ``send_task``, a workflow) names it as parent and keeps its root; a
callback or chain step sent by the worker names the task that settled (:func:`of_message`).
A context variable, not a global: the threads pool runs several tasks in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from taskqueue.message import Message


class Lineage(NamedTuple):
    """The parent of a new message, and the root of its tree."""

    parent_id: str
    root_id: str


_current: ContextVar[Lineage | None] = ContextVar("beat_task_lineage", default=None)


def current() -> Lineage | None:
    """The running task as a parent (None outside a task)."""
    return _current.get()


def of(task_id: str, root_id: str | None) -> Lineage:
    """``task_id`` as a parent; a task with no root is the root of its own tree."""
    return Lineage(task_id, root_id or task_id)


def of_message(message: Message) -> Lineage:
    return of(message.id, message.headers.root_id)


@contextmanager
def running(lineage: Lineage) -> Iterator[None]:
    token = _current.set(lineage)
    try:
        yield
    finally:
        _current.reset(token)
