"""``pause_on_failure: true``: the entry pauses itself when a fire's task ends in FAILURE or
DEAD, with the task id in the note (the pause of ``beat pause``, kept in the run state).

The leader watches the fires it sent for such entries until their task reaches a final state,
reading their states in one pipelined call per tick; at start-up and takeover it watches each
entry's newest fire from the fire log, so a failure is noticed across a restart too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from beat.entries import Entry
from beat.overlap import StatusReader
from beat.planner import Fire
from taskqueue.records import FINAL_STATES, TaskState

FAILED = frozenset({TaskState.FAILURE, TaskState.DEAD})


@dataclass(frozen=True, slots=True)
class Failure:
    entry: str
    task_id: str
    state: TaskState

    @property
    def note(self) -> str:
        return f"pause_on_failure: {self.task_id} ended in {self.state.value}"


class FailureWatch:
    """The fires of ``pause_on_failure`` entries whose task has not ended yet."""

    def __init__(self) -> None:
        self.pending: dict[str, str] = {}  # task id -> entry
        # Failures whose pause is not in the run state yet (saving it failed): the leader
        # tries again every tick until it is stored.
        self.unsaved: list[Failure] = []

    def load(self, newest: Mapping[str, str]) -> None:
        """Each entry's newest fire id (entry -> id), from the fire log."""
        self.pending = {task_id: name for name, task_id in newest.items()}

    def sent(self, fires: Sequence[Fire], entries: Mapping[str, Entry]) -> None:
        for fire in fires:
            entry = entries.get(fire.entry)
            if entry is not None and entry.pause_on_failure:
                self.pending[fire.id] = fire.entry

    def check(self, read: StatusReader) -> list[Failure]:
        """The watched fires that failed (also added to ``unsaved``); every fire that ended
        (or is unknown) is dropped."""
        if not self.pending:
            return []
        statuses = read(list(self.pending))
        failures = []
        for task_id, status in statuses.items():
            if status is not None and status.state not in FINAL_STATES:
                continue
            name = self.pending.pop(task_id)
            if status is not None and status.state in FAILED:
                failures.append(Failure(name, task_id, status.state))
        self.unsaved += failures
        return failures
