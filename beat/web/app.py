"""The dashboard's ASGI app (Starlette): pages, their JSON twins under ``/api/``, actions,
sign-in, the OpenAPI document and the static files (htmx, uPlot: shipped in the package, so
the dashboard works on a host without internet access).

Handlers are thin: they parse the declared parameters, call the page's or action's function
in the thread pool (every read blocks on the broker or a file) and render the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from beat.entries_api import EntryNotFoundError
from beat.errors import BeatError
from beat.web.actions import ACTIONS, Action
from beat.web.dashboard import Dashboard, Refused
from beat.web.openapi import document
from beat.web.pages import PAGES
from beat.web.pages.base import Page
from beat.web.params import BadRequest, parse_all
from beat.web.security import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LOCAL_USER,
    Session,
    Sessions,
    authorization_user,
    check_credentials,
    csrf_ok,
    host_ok,
)
from beat.web.settings import WebSettings
from beat.web.sources import NotFound, redact
from beat.web.warm import WARM_WAIT, warm
from taskqueue.errors import TaskqueueError

log = logging.getLogger("beat.web")
HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
# Pages re-fetch their live part this often (htmx); the depth chart polls its data.
REFRESH_MS = 3000


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False).encode()


def _error(request: Request, status: int, message: str, templates: Jinja2Templates) -> Response:
    if request.url.path.startswith("/api/"):
        return JSON({"error": message}, status_code=status)
    return templates.TemplateResponse(
        request,
        "error.html",
        _context(request, {"status": status, "message": message, "live": False}),
        status,
    )


def _context(request: Request, extra: dict[str, Any]) -> dict[str, Any]:
    session: Session | None = getattr(request.state, "session", None)
    settings: WebSettings = request.app.state.settings
    flash = None
    if session is not None and session.flash:
        flash, session.flash = session.flash, None
    return {
        "pages": [p for p in PAGES if p.nav and p.template],
        "actions": {a.name: a for a in ACTIONS},
        "read_only": settings.read_only,
        "user": getattr(request.state, "user", None),
        "signed_in_by_session": session is not None and settings.auth_required,
        "csrf": session.csrf if session is not None else "",
        "flash": flash,
        "refresh_ms": REFRESH_MS,
        "fragment": "hx-request" in request.headers,
        "quote": lambda v: quote(str(v), safe=""),
        **extra,
    }


def _guarded(
    templates: Jinja2Templates, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` with every expected failure turned into its answer (never a 500)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as e:
            return _error(request, 400, str(e), templates)
        except (NotFound, EntryNotFoundError) as e:
            return _error(request, 404, str(redact(str(e))), templates)
        except Refused as e:
            return _error(request, 409, str(redact(str(e))), templates)
        except (BeatError, TaskqueueError, OSError) as e:
            log.warning("dashboard: %s: %s", request.url.path, redact(str(e)))
            return _error(request, 503, str(redact(str(e))), templates)

    return endpoint


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("form too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _who(request: Request) -> str:
    client = request.client.host if request.client else "?"
    return f"{getattr(request.state, 'user', '?')}@{client}"


def _may_change(request: Request, presented: str | None) -> str | None:
    """Why this state-changing request is refused (None: it may go ahead)."""
    if request.app.state.settings.read_only:
        return "the dashboard is read-only (--read-only): actions are off"
    session = request.state.session if request.state.from_cookie else None
    if session is None:
        return "no session: open the dashboard (or GET /api/session) first"
    if not csrf_ok(session, presented):
        return "missing or wrong CSRF token"
    return None


class Guard(BaseHTTPMiddleware):
    """Host check, then who is asking: the session cookie, else (no authentication
    configured) a new ``local`` session, else an Authorization header; else 401 or the
    sign-in page."""

    def __init__(self, app: Any, settings: WebSettings, sessions: Sessions) -> None:
        super().__init__(app)
        self.settings = settings
        self.sessions = sessions

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not host_ok(self.settings, request.headers.get("host")):
            return JSON({"error": "Host header must name a loopback address"}, status_code=400)
        path = request.url.path
        session = self.sessions.get(request.cookies.get(COOKIE))
        request.state.from_cookie = session is not None
        created = None
        user = session.user if session is not None else None
        if user is None and not self.settings.auth_required:
            user = LOCAL_USER
            # Only a page gets a new session (its forms carry the CSRF token): a stylesheet
            # or a cookie-less API read does not, so a monitor polling the API cannot push
            # the browsers' sessions out of the bounded table (GET /api/session makes one).
            if not path.startswith(("/static/", "/api/")):
                session = created = self.sessions.new(LOCAL_USER)
        if user is None:
            header = request.headers.get("authorization")
            user = await run_in_threadpool(authorization_user, self.settings, header)
        request.state.session, request.state.user = session, user
        if user is None and not (path == "/login" or path.startswith("/static/")):
            if path.startswith("/api/"):
                return JSON({"error": "not signed in"}, status_code=401)
            return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        response = await call_next(request)
        if created is not None:
            _set_cookie(request, response, created)
        return response


def _set_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def build_app(
    settings: WebSettings, dashboard: Dashboard, *, sample_seconds: float = 5.0
) -> Starlette:
    """The dashboard over ``dashboard``; the queue depths are sampled every
    ``sample_seconds`` while it runs."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["timeline_x"] = timeline_x
    sessions = Sessions()
    samples = max(1, int(3600 / sample_seconds))
    dashboard.depth = type(dashboard.depth)(maxlen=samples)

    routes: list[BaseRoute] = [
        Route("/", lambda r: RedirectResponse("/entries", status_code=303)),
        Route(
            "/login",
            _guarded(templates, _login(templates, settings, sessions)),
            methods=["GET", "POST"],
        ),
        Route("/logout", _guarded(templates, _logout(templates, sessions)), methods=["POST"]),
        Route("/api/session", _guarded(templates, _session(sessions)), methods=["GET"]),
        Route("/api/openapi.json", lambda r: JSON(document()), methods=["GET"]),
        Route("/tasks", _guarded(templates, _task_search), methods=["GET"]),
    ]
    for page in PAGES:
        routes.append(Route("/api" + page.api_path, _guarded(templates, _api(page, dashboard))))
        if page.template:
            routes.append(Route(page.path, _guarded(templates, _page(page, dashboard, templates))))
    for action in ACTIONS:
        routes += [
            Route(
                "/api" + action.path,
                _guarded(templates, _api_action(action, dashboard)),
                methods=["POST"],
            ),
            Route(
                "/actions" + action.path,
                _guarded(templates, _form_action(action, dashboard, templates)),
                methods=["GET", "POST"],
            ),
        ]
    routes.append(Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Before listening: the first request finds the caches full (beat.web.warm).
        warming = asyncio.ensure_future(run_in_threadpool(warm, dashboard, PAGES, templates.env))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(warming), WARM_WAIT)
        task = asyncio.create_task(_sample(dashboard, sample_seconds))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            dashboard.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, settings=settings, sessions=sessions)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.dashboard = dashboard
    return app


async def _sample(dashboard: Dashboard, every: float) -> None:
    """Sample the queue depths for the chart; a failed read is logged once per outage."""
    failing = False
    while True:
        try:
            await run_in_threadpool(dashboard.sample_depth)
            failing = False
        except (BeatError, TaskqueueError, OSError) as e:
            if not failing:
                log.warning("dashboard: queue depth not sampled: %s", redact(str(e)))
            failing = True
        await asyncio.sleep(every)


def timeline_x(instant: str, start: str, end: str) -> float:
    """Where ``instant`` falls between ``start`` and ``end`` (ISO-8601), in percent."""
    t0, t1 = datetime.fromisoformat(start), datetime.fromisoformat(end)
    t = datetime.fromisoformat(instant)
    span = (t1 - t0).total_seconds() or 1.0
    return round(min(100.0, max(0.0, (t - t0).total_seconds() / span * 100)), 3)


def _load_page(page: Page, dashboard: Dashboard, params: Any) -> tuple[Any, list[str]]:
    """A page's data and the config's problems, in one thread-pool hop."""
    return page.load(dashboard, params, datetime.now(UTC)), dashboard.problems()


def _page(
    page: Page, dashboard: Dashboard, templates: Jinja2Templates
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = parse_all(page.params, request.query_params, request.path_params)
        data, problems = await run_in_threadpool(_load_page, page, dashboard, params)
        context = _context(
            request, {"data": data, "params": params, "page": page, "problems": problems}
        )
        return templates.TemplateResponse(request, page.template, context)

    return endpoint


def _api(page: Page, dashboard: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = parse_all(page.params, request.query_params, request.path_params)
        return JSON(await run_in_threadpool(page.load, dashboard, params, datetime.now(UTC)))

    return endpoint


def _api_action(action: Action, dashboard: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = parse_all(action.params, request.query_params, request.path_params)
        refusal = _may_change(request, request.headers.get(CSRF_HEADER))
        if refusal is not None:
            log.warning(
                "dashboard: refused %s %s from %s: %s", action.name, params, _who(request), refusal
            )
            return JSON({"error": refusal}, status_code=403)
        result = await run_in_threadpool(action.perform, dashboard, params, _who(request))
        return JSON(result)

    return endpoint


def _form_action(
    action: Action, dashboard: Dashboard, templates: Jinja2Templates
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = parse_all(action.params, request.query_params, request.path_params)
        if request.method == "GET":
            if request.app.state.settings.read_only:
                raise Refused("the dashboard is read-only (--read-only): actions are off")
            question = await run_in_threadpool(action.question, dashboard, params)
            context = _context(
                request,
                {
                    "action": action,
                    "question": question,
                    "back": action.back(params),
                    "live": False,
                },
            )
            return templates.TemplateResponse(request, "confirm.html", context)
        form = await _form(request)
        refusal = _may_change(request, form.get(CSRF_FIELD))
        if refusal is not None:
            log.warning(
                "dashboard: refused %s %s from %s: %s", action.name, params, _who(request), refusal
            )
            return _error(request, 403, refusal, templates)
        asked = {k: v for k, v in form.items() if k in action.fields}
        params = parse_all(action.params, {**request.query_params, **asked}, request.path_params)
        result = await run_in_threadpool(action.perform, dashboard, params, _who(request))
        request.state.session.flash = action.done(result)
        return RedirectResponse(action.back(params), status_code=303)

    return endpoint


async def _task_search(request: Request) -> Response:
    task_id = request.query_params.get("id", "").strip()
    if not task_id:
        raise BadRequest("id: give a task id")
    return RedirectResponse(f"/tasks/{quote(task_id, safe='')}", status_code=303)


def _session(sessions: Sessions) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        session = request.state.session
        created = None
        if session is None:  # signed in by an Authorization header: a session for a script
            session = created = sessions.new(request.state.user)
        response = JSON(
            {
                "user": session.user,
                "csrf_token": session.csrf,
                "read_only": request.app.state.settings.read_only,
            }
        )
        if created is not None:
            _set_cookie(request, response, created)
        return response

    return endpoint


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a URL) is followed after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/entries"


def _login(
    templates: Jinja2Templates, settings: WebSettings, sessions: Sessions
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            ctx = _context(
                request,
                {"next": target, "message": None, "users": bool(settings.users), "live": False},
            )
            return templates.TemplateResponse(request, "login.html", ctx)
        form = await _form(request)
        user_name, secret = form.get("user", "").strip(), form.get("secret", "")
        user = await run_in_threadpool(check_credentials, settings, user_name, secret)
        if user is None:
            client = request.client.host if request.client else "?"
            log.warning("dashboard: sign-in failed for %r from %s", user_name[:100], client)
            ctx = _context(
                request,
                {
                    "next": target,
                    "message": "wrong user, password or token",
                    "users": bool(settings.users),
                    "live": False,
                },
            )
            return templates.TemplateResponse(request, "login.html", ctx, status_code=401)
        old = request.state.session
        if old is not None and request.state.from_cookie:
            sessions.end(old.id)  # a new id on sign-in: no session fixation
        session = sessions.new(user)
        log.info(
            "dashboard: %s signed in from %s", user, request.client.host if request.client else "?"
        )
        response = RedirectResponse(target, status_code=303)
        _set_cookie(request, response, session)
        return response

    return endpoint


def _logout(
    templates: Jinja2Templates, sessions: Sessions
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = await _form(request)
        session = request.state.session if request.state.from_cookie else None
        if session is None or not csrf_ok(session, form.get(CSRF_FIELD)):
            return _error(request, 403, "missing or wrong CSRF token", templates)
        sessions.end(session.id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return endpoint
