"""Errors raised by beat.

BeatError
 ├── ScheduleError        an invalid schedule expression (``field`` names the part)
 ├── ConfigError          one or more problems in a configuration (``problems``)
 ├── StateError           the run-state store cannot be opened or used
 └── SourceError          a schedule source (SQL) cannot be read or written
"""

from __future__ import annotations

from dataclasses import dataclass

from taskqueue.errors import FieldProblem


class BeatError(Exception):
    """Root of every error raised by :mod:`beat`."""


class ScheduleError(BeatError, FieldProblem):
    """An invalid schedule: ``where`` is the part at fault (``minute``, ``every``, ``at``...)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration, with where it is."""

    file: str
    line: int | None
    path: str  # e.g. "entries.heartbeat.every"
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(BeatError, ValueError):
    """Every problem found in a configuration, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class StateError(BeatError):
    """The run-state store (``-s schedule.db`` or a database URL) failed."""


class StateCorrupt(StateError):
    """The run-state file is not a valid database (a corrupt page, another kind of file):
    retrying cannot help, so the daemon stops with this error instead of backing off."""


class SourceError(BeatError):
    """A schedule source failed."""
