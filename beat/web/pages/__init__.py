"""The dashboard's pages, in navigation order (see :mod:`beat.web.pages.base`)."""

from __future__ import annotations

from beat.web.pages import dead, entries, entry, leader, queues, task, timeline, workers
from beat.web.pages.base import Page

PAGES: tuple[Page, ...] = (
    entries.PAGE,
    timeline.PAGE,
    queues.PAGE,
    queues.HISTORY,
    dead.PAGE,
    workers.PAGE,
    leader.PAGE,
    task.PAGE,
    entry.PAGE,
    entry.HISTORY,
)
