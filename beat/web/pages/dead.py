"""Dead letters: the newest of one queue, or of every queue that has some."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.dead_letters(p["queue"], p["limit"])


PAGE = Page(
    title="Dead letters",
    path="/dead",
    api_path="/dead",
    template="dead.html",
    load=load,
    summary="Dead letters: id, queue, reason, time, task and attempt",
    params=(
        Param("queue", max_length=200, description="one queue (default: every queue)"),
        Param("limit", kind="integer", default=100, minimum=1, maximum=1000),
    ),
    schema={
        "type": "object",
        "required": ["dead_letters"],
        "properties": {"dead_letters": {"type": "array", "items": {"type": "object"}}},
    },
)
