"""Tasks the parent/root id tests send (``-A lineage_tasks``)."""

from __future__ import annotations

from typing import Any

from worker.context import BoundTask
from worker.registry import task


@task(name="l.who", bind=True)
def who(self: BoundTask, *_ignored: Any) -> list[str | None]:
    return [self.request.id, self.request.parent_id, self.request.root_id]


@task(name="l.spawn", bind=True)
def spawn(self: BoundTask) -> str:
    """Calls a task from inside a running one: that call's parent is this task."""
    return who.delay().id


@task(name="l.plain")
def plain() -> str:
    """Not bound: its calls still name it as their parent."""
    return who.delay().id
