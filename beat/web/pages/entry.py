"""One entry: definition, last fire and its outcome, next fires on a timeline with the zone's
DST changes marked, and the manual runs started here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.entry_detail(p["name"], now)


PAGE = Page(
    title="Entry",
    path="/entries/{name}",
    api_path="/entries/{name}",
    template="entry.html",
    load=load,
    summary="One entry: last fire and outcome, next fires with DST notes and changes",
    params=(Param("name", where="path", max_length=200),),
    nav=False,
    schema={
        "type": "object",
        "required": ["name", "next", "dst_changes", "manual_runs"],
        "properties": {
            "name": {"type": "string"},
            "next": {"type": "array", "items": {"type": "object"}},
            "dst_changes": {"type": "array", "items": {"type": "object"}},
            "manual_runs": {"type": "array", "items": {"type": "object"}},
            "last": {"type": ["object", "null"]},
        },
    },
)
