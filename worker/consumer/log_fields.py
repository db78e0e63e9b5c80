"""The fields every log line about a task carries, so that JSON logs can be filtered by them."""

from __future__ import annotations

from typing import Any

from taskqueue.broker import TaskState
from taskqueue.message import Message


def task_fields(
    message: Message, queue: str, state: TaskState | str, runtime_s: float | None = None
) -> dict[str, Any]:
    """The fields every log line about a task carries (JSON: fields; text: ``key=value``)."""
    fields: dict[str, Any] = {
        "task": message.task,
        "task_id": message.id,
        "state": state.value if isinstance(state, TaskState) else state,
        "queue": queue,
    }
    if runtime_s is not None:
        fields["runtime_s"] = round(runtime_s, 6)
    return fields
