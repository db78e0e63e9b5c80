"""Every fire of every enabled entry in the next hours (24 by default), in time order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import Param


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.timeline(now, p["hours"], p["limit"])


PAGE = Page(
    title="Next 24 h",
    path="/timeline",
    api_path="/timeline",
    template="timeline.html",
    load=load,
    summary="Every fire in the next hours, in time order (at most `limit`; `more` if cut)",
    params=(
        Param("hours", kind="integer", default=24, minimum=1, maximum=168),
        Param("limit", kind="integer", default=500, minimum=1, maximum=5000),
    ),
    schema={
        "type": "object",
        "required": ["start", "end", "fires", "more"],
        "properties": {
            "fires": {"type": "array", "items": {"type": "object"}},
            "more": {"type": "boolean"},
        },
    },
)
