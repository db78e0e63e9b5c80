"""Workers (``beat workers``): live workers with the tasks they run now, then the ones missed
recently (stopped beating without a clean stop), marked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page

TASK = {
    "type": "object",
    "required": ["id", "task", "started_at"],
    "properties": {
        "id": {"type": "string"},
        "task": {"type": "string"},
        "started_at": {"type": ["string", "null"]},
    },
}
WORKER = {
    "type": "object",
    "required": ["name", "state", "last_seen"],
    "properties": {
        "name": {"type": "string"},
        "state": {"enum": ["live", "missed"]},
        "last_seen": {"type": ["string", "null"]},
        "problem": {"type": ["string", "null"]},
        "host": {"type": "string"},
        "pid": {"type": "integer"},
        "queues": {"type": "array", "items": {"type": "string"}},
        "pool": {"type": "string"},
        "concurrency": {"type": "integer"},
        "tasks": {"type": "array", "items": TASK},
    },
}


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.workers()


PAGE = Page(
    title="Workers",
    path="/workers",
    api_path="/workers",
    template="workers.html",
    load=load,
    summary="Workers: host, pid, pool, queues, last seen, tasks running now; missed ones marked",
    schema={
        "type": "object",
        "required": ["workers"],
        "properties": {"workers": {"type": "array", "items": WORKER}},
    },
)
