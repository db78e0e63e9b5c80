"""A dashboard page: one HTML route, its JSON twin under ``/api/`` and one template.

Adding a page is one module here (a :class:`Page` with the function that loads its data from
the :class:`~beat.web.dashboard.Dashboard`), its entry in :data:`beat.web.pages.PAGES`, and
its template in ``templates/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from beat.web.dashboard import Dashboard
from beat.web.params import Param

# (dashboard, parsed parameters, now) -> the page's data (what the API answers)
Loader = Callable[[Dashboard, dict[str, Any], datetime], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    title: str
    path: str  # the HTML page; the API is "/api" + api_path
    api_path: str
    template: str
    load: Loader
    summary: str
    params: tuple[Param, ...] = ()
    nav: bool = True  # listed in the navigation bar
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
