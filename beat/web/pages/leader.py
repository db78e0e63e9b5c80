"""The leader: which beat holds the lease, its fencing token and when the lease ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.leader(now)


PAGE = Page(
    title="Leader",
    path="/leader",
    api_path="/leader",
    template="leader.html",
    load=load,
    summary="The beat holding the leader lease: holder, fencing token, lease end",
    schema={
        "type": "object",
        "required": ["broker", "leader"],
        "properties": {"leader": {"type": ["object", "null"]}, "broker": {"type": "string"}},
    },
)
