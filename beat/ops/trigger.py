"""Running an entry's task now, outside its schedule (``beat trigger``, the dashboard's
*Trigger now*): sent to the broker, then recorded in the entry's fire log as a manual run, so
``beat history`` and the entry page show it (and who triggered it).

A manual run is not a scheduled fire: a random task id, no ``scheduled_for``, the outcome
:data:`beat.state_log.MANUAL`, which neither the overlap gate nor the failure watch count as a
sent fire, and the entry's last fire (its schedule's boundary) is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from beat.errors import BeatError
from beat.messages import trigger_message
from beat.state_log import MANUAL, FireRecord

if TYPE_CHECKING:
    from beat.entries import Entry
    from beat.state import StateStore
    from taskqueue.broker import Producer


@dataclass(frozen=True, slots=True)
class Triggered:
    """The task id of the run sent, and why it is not in the entry's history (None: it is)."""

    task_id: str
    unrecorded: str | None


def trigger(
    broker: Producer, entry: Entry, store: Callable[[], StateStore], who: str, now: datetime
) -> Triggered:
    """Send a run of ``entry``'s task and record it in the run state ``store()`` opens, as
    triggered by ``who``. Raises ValueError for a message the broker would refuse (nothing is
    sent) and the broker's errors; a run state that cannot be written is only reported (the
    run is sent already)."""
    message = trigger_message(entry, now)
    broker.enqueue_once(message)
    at = message.headers.enqueued_at
    try:
        store().log_fires([FireRecord(entry.name, at, message.id, MANUAL, who, at)], at)
    except BeatError as e:
        return Triggered(message.id, f"not in the history of {entry.name}: {e}")
    return Triggered(message.id, None)
