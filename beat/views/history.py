"""An entry's recent fires, newest first (``beat history``, the dashboard's entry page): the
fire log of the run state (what beat did with each fire, and the runs triggered by hand)
joined with the broker's task states (what the worker did with it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

# Fire log outcomes whose task is in the broker (their task state is looked up), and the one
# of a run triggered by hand, are beat.state_log's.
from beat.state_log import ENQUEUED, MANUAL, FireRecord

if TYPE_CHECKING:
    from taskqueue.records import TaskStatus

# The task ids in, their known statuses out (an id with no status is left out).
StatusLookup = Callable[[Sequence[str]], Mapping[str, "TaskStatus"]]


def read_fire_log(state: str, name: str, limit: int) -> list[FireRecord]:
    """The newest ``limit`` lines of ``name``'s fire log; none if the state does not exist (it
    is not created by looking). Raises :class:`~beat.errors.StateError`."""
    from beat.state import StateStore
    from beat.state_read import sqlite_state_file

    path = sqlite_state_file(state)
    if path is not None and not path.exists():
        return []
    store = StateStore(state)
    try:
        return store.fire_log(name, limit)
    finally:
        store.close()


def history_rows(records: Sequence[FireRecord], lookup: StatusLookup) -> list[dict[str, Any]]:
    """Each fire as ``beat history --json`` shows it, the task states read in one lookup."""
    ids = [r.fire_id for r in records if r.outcome in ENQUEUED]
    statuses = lookup(ids) if ids else {}
    return [history_row(r, statuses.get(r.fire_id)) for r in records]


def history_row(record: FireRecord, status: TaskStatus | None) -> dict[str, Any]:
    """One fire: when it was due, what beat did with it, and its task's state and runtime."""
    enqueued = record.outcome in ENQUEUED
    if not enqueued:
        status = None
    started = status.started_at if status is not None else None
    finished = status.finished_at if status is not None else None
    return {
        "fire_id": record.fire_id,
        "scheduled_for": record.scheduled_for.isoformat(),
        "outcome": record.outcome,
        "sent_at": record.at.isoformat() if enqueued and record.at is not None else None,
        "skipped": record.reason if record.outcome == "skipped" else None,
        # Who triggered a manual run.
        "by": record.reason if record.outcome == MANUAL else None,
        # A fire whose task state has expired (or never existed) is shown as unknown.
        "state": str(status.state) if status is not None else None,
        "started_at": started.isoformat() if started is not None else None,
        "finished_at": finished.isoformat() if finished is not None else None,
        "runtime_s": (
            round((finished - started).total_seconds(), 3)
            if started is not None and finished is not None
            else None
        ),
        "error": (
            status.error
            if status is not None
            else (record.reason or None if record.outcome != MANUAL else None)
        ),
    }
