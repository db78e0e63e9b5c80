"""Where a running beat's entries come from, as plug-ins of one shape.

A source turns the schedules.yaml entries into the entries beat runs, and may report changes
of its own between reloads: :class:`~beat.sources.yaml_file.YamlSource` (the file only) and
:class:`~beat.sources.sql.SqlEntrySource` (the file plus a SQL table, ``source: URL``). The
service applies whatever a source returns through its one entry table
(:class:`beat.roster.Roster`), so every source follows the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from beat.entries import Entry
from beat.sources.delta import POLL_INTERVAL, Delta

if TYPE_CHECKING:
    from beat.config.model import Config


class EntrySource(Protocol):
    def entries(self, config: Config, running: Mapping[str, Entry]) -> dict[str, Entry]:
        """Every entry to run with ``config`` (start-up, or a schedules.yaml reload), given
        the entries running now (``running``: none at start-up), which a source may re-merge
        rather than keep a copy of its own. Raises SourceError when the source cannot be read
        at start-up. The dict is handed over: at start-up the roster keeps it as its own and
        changes it (no copy of a million entries)."""
        ...

    def poll(self, monotonic_s: float) -> Delta | None:
        """What changed since the last answer (None: nothing, or not time to look yet)."""
        ...

    def close(self) -> None: ...


def open_source(config: Config, *, poll_interval: timedelta = POLL_INTERVAL) -> EntrySource:
    """The source ``config`` names: the YAML file alone, or the file plus a SQL table."""
    if config.source == "yaml":
        from beat.sources.yaml_file import YamlSource

        return YamlSource()
    from beat.sources.sql import SqlEntrySource

    return SqlEntrySource(config, poll_interval=poll_interval)


__all__ = ["POLL_INTERVAL", "Delta", "EntrySource", "open_source"]
