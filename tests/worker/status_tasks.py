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


@task(name="s.calls")
def calls(n: int, queue: str = "idle") -> list[str]:
    """Sends ``n`` calls from its code, in one batch, plus one ``send_task``; their ids."""
    from worker import group, send_task

    sent = group(ok.si() for _ in range(n)).apply_async(queue=queue)
    return [r.id for r in sent] + [send_task("s.ok", queue=queue).id]


@task(name="s.calls_then_fails")
def calls_then_fails() -> None:
    """A task that sent a call before it failed: the call is still its child."""
    ok.delay()
    raise ValueError("failed after a call")
