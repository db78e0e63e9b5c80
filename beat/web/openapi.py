"""The OpenAPI 3.1 document of the JSON API, built from the declarations of the pages and
actions (:data:`beat.web.pages.PAGES`, :data:`beat.web.actions.ACTIONS`): what is served and
what is described cannot drift apart."""

from __future__ import annotations

from typing import Any

from beat import __version__
from beat.web.actions import ACTIONS
from beat.web.pages import PAGES

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def _answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for page in PAGES:
        responses = {
            "200": _json(page.schema),
            "400": _answer("a parameter is out of range"),
            "401": _answer("not signed in"),
            "503": _answer("the broker, run state or SQL source cannot be read"),
        }
        if any(p.where == "path" for p in page.params):
            responses["404"] = _answer("no such entry or task")
        paths["/api" + page.api_path] = {
            "get": {
                "summary": page.summary,
                "operationId": "get_" + page.api_path.strip("/").replace("/", "_").strip("{}"),
                "parameters": [p.schema() for p in page.params],
                "responses": responses,
            }
        }
    for action in ACTIONS:
        paths["/api" + action.path] = {
            "post": {
                "summary": action.summary,
                "operationId": action.name,
                "description": "Needs the session cookie and its CSRF token in the "
                "X-CSRF-Token header (GET /api/session).",
                "parameters": [
                    *(p.schema() for p in action.params),
                    {
                        "name": "X-CSRF-Token",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json({"type": "object"}),
                    "400": _answer("a parameter is out of range"),
                    "401": _answer("not signed in"),
                    "403": _answer("no session or CSRF token, or the dashboard is read-only"),
                    "404": _answer("no such entry"),
                    "409": _answer("the action cannot be done to this entry"),
                    "503": _answer("the broker or SQL source cannot be used"),
                },
            }
        }
    paths["/api/session"] = {
        "get": {
            "summary": "The signed-in user, the session's CSRF token, whether read-only",
            "operationId": "get_session",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["user", "csrf_token", "read_only"],
                        "properties": {
                            "user": {"type": "string"},
                            "csrf_token": {"type": "string"},
                            "read_only": {"type": "boolean"},
                        },
                    }
                ),
                "401": _answer("not signed in"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "beat dashboard API", "version": __version__},
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR}},
    }
