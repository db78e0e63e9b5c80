"""One entry: definition, last fire and its outcome, next fires on a timeline with the zone's
DST changes marked, and its history (``beat history``) with a chart of run time and outcome
per fire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param

FIRE = {
    "type": "object",
    "required": ["fire_id", "scheduled_for", "outcome", "state", "runtime_s"],
    "properties": {
        "fire_id": {"type": "string"},
        "scheduled_for": {"type": "string"},
        "outcome": {"type": "string"},
        "sent_at": {"type": ["string", "null"]},
        "skipped": {"type": ["string", "null"]},
        "by": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]},
        "started_at": {"type": ["string", "null"]},
        "finished_at": {"type": ["string", "null"]},
        "runtime_s": {"type": ["number", "null"]},
        "error": {"type": ["string", "null"]},
    },
}


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
        "required": ["name", "next", "dst_changes", "history"],
        "properties": {
            "name": {"type": "string"},
            "next": {"type": "array", "items": {"type": "object"}},
            "dst_changes": {"type": "array", "items": {"type": "object"}},
            "history": {"type": "array", "items": FIRE},
            "last": {"type": ["object", "null"]},
        },
    },
)


def history(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"entry": p["name"], "fires": dashboard.history(p["name"], p["limit"])}


HISTORY = Page(
    title="Entry history",
    path="/entries/{name}/history",
    api_path="/entries/{name}/history",
    template="",  # data for the entry page's chart: API only
    load=history,
    summary="An entry's newest fires (beat history): outcome, task state, run time",
    params=(
        Param("name", where="path", max_length=200),
        Param("limit", kind="integer", default=50, minimum=1, maximum=1000),
    ),
    nav=False,
    schema={
        "type": "object",
        "required": ["entry", "fires"],
        "properties": {
            "entry": {"type": "string"},
            "fires": {"type": "array", "items": FIRE},
        },
    },
)
