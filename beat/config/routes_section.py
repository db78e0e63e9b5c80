"""The ``routes:`` section: task-name patterns -> queue and options, checked by the one rule
of :mod:`taskqueue.routes` (the producer and the worker parse it with the same function), each
problem reported at the line of its pattern or field. Queue names follow the entries' rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beat.config.checker import NAME, Checker
from daemonkit.yaml_tree import segment
from taskqueue.routes import Route, RouteError, parse_route


def check_routes(checker: Checker, root: Mapping[Any, Any]) -> tuple[Route, ...]:
    """The valid routes, in file order; every invalid one reported and left out."""
    section = checker.mapping(
        root.get("routes"), checker.line_of(root, "routes"), "routes", "task-name patterns"
    )
    routes: list[Route] = []
    for pattern, options in section.items():
        try:
            route = parse_route(pattern, options, "routes")
        except RouteError as e:
            checker.report(_line(checker, section, pattern, options, e.where), e.where, e.problem)
            continue
        if route.queue is not None and not NAME.fullmatch(route.queue):
            checker.report(
                checker.line_of(options, "queue"),
                f"routes.{segment(pattern)}.queue",
                f"expected a queue name (letters, digits, _ . : @ -), got {route.queue!r}",
            )
            continue
        routes.append(route)
    return tuple(routes)


def _line(
    checker: Checker, section: Mapping[Any, Any], pattern: Any, options: Any, path: str
) -> int | None:
    """The line of the field ``path`` names, else of its pattern."""
    field = path.rpartition(".")[2]
    if isinstance(options, Mapping) and field in options:
        return checker.line_of(options, field)
    return checker.line_of(section, pattern)
