"""A task whose ``@task(queue=...)`` disagrees with ``routes:`` is named at worker start.

Why the warning: beat never imports task code, so an entry naming such a task is routed by
``routes:`` (or its own ``queue:``), while ``.delay()`` from code that imports the task uses
the ``@task`` queue. The two would land on different queues without a word.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from taskqueue.routes import Route, match

logger = logging.getLogger("worker.routing")


class Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def queue(self) -> str | None: ...


def unrouted(tasks: Iterable[Named], routes: Sequence[Route]) -> list[str]:
    """One line per task whose ``@task(queue=...)`` differs from the queue ``routes`` give it."""
    lines = []
    for task in tasks:
        if task.queue is None:
            continue
        route = match(routes, task.name)
        routed = route.queue if route is not None and route.queue is not None else None
        if routed != task.queue:
            where = f"queue {routed!r}" if routed else "no queue: 'default'"
            lines.append(
                f"{task.name}: @task(queue={task.queue!r}) differs from routes: ({where}); "
                "entries naming it use routes:, calls that import it use @task"
            )
    return lines


def warn_unrouted(tasks: Iterable[Named], routes: Sequence[Route]) -> None:
    for line in unrouted(tasks, routes):
        logger.warning("%s", line)
