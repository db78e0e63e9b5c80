"""Queues: ready, delayed, in flight, dead, consumers (``beat queues``), and a depth chart
over the last hour from the samples this process takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page


def load(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.queues()


def history(dashboard: Dashboard, p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dashboard.depth_history()


PAGE = Page(
    title="Queues",
    path="/queues",
    api_path="/queues",
    template="queues.html",
    load=load,
    summary="Every queue: ready, delayed, in flight, dead, live consumers, expired leases",
    schema={
        "type": "object",
        "required": ["queues"],
        "properties": {"queues": {"type": "array", "items": {"type": "object"}}},
    },
)

HISTORY = Page(
    title="Queue depth",
    path="/queues/history",
    api_path="/queues/history",
    template="",  # data for the chart of the queues page: API only
    load=history,
    summary="Queue depths (totals over all queues) sampled by this process over the last hour",
    nav=False,
    schema={
        "type": "object",
        "required": ["t", "ready", "delayed", "in_flight", "dead"],
        "properties": {
            k: {"type": "array", "items": {"type": "number"}}
            for k in ("t", "ready", "delayed", "in_flight", "dead")
        },
    },
)
