"""What a source reports between reloads, and how often a polled source looks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from beat.entries import Entry

# A SQL source is read at most this often (a commit takes effect within two of these).
POLL_INTERVAL = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Delta:
    """Entries to (re)index and names to drop, relative to the previous merged view."""

    changed: dict[str, Entry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)
