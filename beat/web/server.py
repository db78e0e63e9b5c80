"""Serving the dashboard with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

from beat.web.dashboard import Dashboard
from beat.web.settings import WebSettings

log = logging.getLogger("beat.web")


def serve(settings: WebSettings, dashboard: Dashboard, *, sample_seconds: float = 5.0) -> None:
    import uvicorn

    from beat.web.app import build_app

    app = build_app(settings, dashboard, sample_seconds=sample_seconds)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # beat's own logging (configure_logging), not uvicorn's
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    log.info(
        "dashboard on http://%s:%d/%s%s",
        settings.host,
        settings.port,
        " (read-only)" if settings.read_only else "",
        " (sign-in required)" if settings.auth_required else "",
    )
    # uvicorn's own start-up lines carry terminal colour codes as extra fields; ours says it
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    uvicorn.Server(config).run()
