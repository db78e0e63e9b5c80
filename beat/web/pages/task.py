"""One task by id (``beat status``): state, attempts, result or error and its traceback,
progress, times, the task that sent it and the ones it sent (callbacks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.task(p["task_id"])


PAGE = Page(
    title="Task",
    path="/tasks/{task_id}",
    api_path="/tasks/{task_id}",
    template="task.html",
    load=load,
    summary="One task by id: state, attempts, result or error and traceback, parent and "
    "children (404: unknown)",
    params=(Param("task_id", where="path", max_length=300),),
    nav=False,
    schema={
        "type": "object",
        "required": ["id", "state", "attempts"],
        "properties": {
            "id": {"type": "string"},
            "task": {"type": ["string", "null"]},
            "state": {"type": "string"},
            "attempts": {"type": "integer"},
            "traceback": {"type": ["string", "null"]},
            "parent_id": {"type": ["string", "null"]},
            "children": {"type": "array", "items": {"type": "string"}},
        },
    },
)
