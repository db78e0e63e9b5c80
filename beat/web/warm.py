"""Start-up warm-up: the dashboard answers its first request as fast as its hundredth.

A cold page costs what its first request must build once: the configuration (10,000 entries:
~0.4 s of CPU), the run state, the next-24-h timeline (~0.2 s), SQLAlchemy for the fire log
(~0.2 s of imports), a template's compilation. :func:`warm` builds all of them by loading
every page once, before the server listens (at most WARM_WAIT; the rest goes on in the
background). Then the objects it built are frozen out of the cyclic garbage collector: they
live as long as the process, and a full collection walking all of them stalled a request by
~50-200 ms now and then (issue 16).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from beat.web.dashboard import Dashboard
from beat.web.pages.base import Page
from beat.web.params import parse_all
from beat.web.sources import freeze

log = logging.getLogger("beat.web")

# The longest start-up waits for the warm-up (a broker that does not answer must not keep
# the dashboard from serving; its pages say what is wrong).
WARM_WAIT = 10.0
# A path parameter no task or entry has: its page is loaded for its imports, answers 404.
_NOBODY = "-warm-up-"


def warm(dashboard: Dashboard, pages: Iterable[Page], templates: Environment) -> None:
    """Load every page once with its default parameters (the entry pages for the first
    entry) and compile every template, then :func:`freeze` what was built."""
    now = datetime.now(UTC)
    for page in pages:
        path: dict[str, Any] = {p.name: _NOBODY for p in page.params if p.where == "path"}
        try:
            if page.template:
                templates.get_template(page.template)
            if "name" in path:
                path["name"] = next(iter(dashboard.config().entries), _NOBODY)
            page.load(dashboard, parse_all(page.params, {}, path), now)
        except Exception as e:  # never a reason not to start: the page's request will say it
            log.debug("dashboard: warm-up of %s: %s", page.path, e)
    for name in ("error.html", "confirm.html", "login.html"):
        templates.get_template(name)
    freeze()
