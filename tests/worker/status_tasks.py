"""Tasks the status-details tests send (``-A status_tasks``)."""

from __future__ import annotations

from worker.registry import task


def _inner(text: str) -> None:
    raise ValueError(text)


@task(name="s.boom")
def boom(text: str) -> None:
    _inner(text)


@task(name="s.ok")
def ok() -> str:
    return "ok"
