"""A dashboard page: one HTML route, its JSON twin under ``/api/`` and one template.

Adding a page is one :class:`Page` in :data:`beat.web.pages.PAGES` (with the function that
loads its data from the :class:`~beat.web.dashboard.Dashboard`), its response schema in
:mod:`beat.web.pages.schemas` and its template in ``templates/``.
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
    """``name`` is the page's template (``<name>.html``) and, unless ``route`` says
    otherwise, its path: ``/<name>``, and ``/api/<name>`` for its JSON twin."""

    name: str
    title: str
    load: Loader
    summary: str
    params: tuple[Param, ...] = ()
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    route: str = ""  # the path when it is not "/<name>"
    nav: bool = True  # listed in the navigation bar
    html: bool = True  # False: API only (data for another page's chart)

    @property
    def path(self) -> str:
        """The HTML page's path; the API's is ``"/api" + path``."""
        return self.route or "/" + self.name

    @property
    def api_path(self) -> str:
        return self.path

    @property
    def template(self) -> str:
        return f"{self.name}.html" if self.html else ""
