"""Entries: every entry with its schedule in words, zone, next fire (and its DST note), last
fire and its outcome, enabled or not; filtered and paged (10,000 entries stay fast)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param

ROW = {
    "type": "object",
    "required": ["name", "task", "schedule", "timezone", "queue", "enabled", "next_fire"],
    "properties": {
        "name": {"type": "string"},
        "task": {"type": "string"},
        "schedule": {"type": "string"},
        "timezone": {"type": "string"},
        "queue": {"type": "string"},
        "enabled": {"type": "boolean"},
        "last_fire": {"type": ["string", "null"]},
        "next_fire": {"type": ["string", "null"]},
        "next_note": {"type": ["string", "null"]},
        "overdue": {"type": "boolean"},
        "last_outcome": {"type": ["string", "null"]},
        "source": {"type": "string"},
    },
}


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.entries(p["q"] or "", p["offset"], p["limit"], now)


PAGE = Page(
    title="Entries",
    path="/entries",
    api_path="/entries",
    template="entries.html",
    load=load,
    summary="Every entry: schedule, zone, next fire with DST notes, last fire and outcome",
    params=(
        Param("q", description="only entries whose name, task or queue contain this"),
        Param("offset", kind="integer", default=0, minimum=0, maximum=10**9),
        Param("limit", kind="integer", default=100, minimum=1, maximum=1000),
    ),
    schema={
        "type": "object",
        "required": ["total", "offset", "limit", "entries"],
        "properties": {
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "entries": {"type": "array", "items": ROW},
        },
    },
)
