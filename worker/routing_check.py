"""The worker's side of ``routes:``: the callbacks it sends and the calls its tasks make are
routed by its configuration's routes, and a task whose ``@task(queue=...)`` disagrees with
them is named at start.

Why the warning: beat never imports task code, so an entry naming such a task is routed by
``routes:`` (or its own ``queue:``), while ``.delay()`` from code that imports the task uses
the ``@task`` queue. The two would land on different queues without a word.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from taskqueue.config_keys import CONFIG_ENV
from taskqueue.routes import Route, match
from worker.producer import ROUTES

logger = logging.getLogger("worker.routing")


class Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def queue(self) -> str | None: ...


def share_routes(routes: Sequence[Route], config_path: Path | None) -> None:
    """Route this process's calls by ``routes``; pool processes (fresh interpreters) find the
    same configuration file through ``$BEAT_CONFIG`` unless it is already set."""
    ROUTES.configure(routes)
    if config_path is not None and CONFIG_ENV not in os.environ:
        os.environ[CONFIG_ENV] = str(config_path.resolve())


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
