"""Keeps a running beat's entries in step with the SQL source: YAML entries plus database rows.

Names are unique across both sources. A database row whose name is also a YAML entry is a
clash: it is reported as an error and ignored, and the YAML entry keeps running (a row written
by some application must not be able to replace an entry the operator put in the file).

The service calls :meth:`SourcePoller.maybe_poll` on every loop turn; it reads the database
at most once per ``interval`` and returns only what changed, so the service re-plans only
those entries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from beat.entries import Entry
from beat.errors import Problem, SourceError
from beat.sources.delta import POLL_INTERVAL, Delta
from beat.sources.sql.table import SqlSource

log = logging.getLogger(__name__)

CLASH_MESSAGE = (
    "the name is also an entry of schedules.yaml; the database row is ignored "
    "(names must be unique across both sources)"
)


class SourcePoller:
    """The merged view of YAML entries and one :class:`SqlSource`.

    It keeps nothing per row: the service's roster holds every entry it runs, and a
    schedules.yaml reload re-merges from those (:meth:`replace_yaml`), so only the rows a YAML
    entry hides (a clash) are kept here, to run once the YAML entry leaves the file. (A dict
    of every row by name was ~90 bytes per entry beside the roster's own: issue 17.)
    """

    def __init__(
        self,
        source: SqlSource,
        yaml_entries: Mapping[str, Entry],
        *,
        interval: timedelta = POLL_INTERVAL,
    ) -> None:
        self.source = source
        self.interval_s = interval.total_seconds()
        self.yaml: dict[str, Entry] = dict(yaml_entries)
        # Valid rows whose names are YAML entries: not run while the YAML entry is there.
        self.hidden: dict[str, Entry] = {}
        self.cursor: int | None = None
        self.problems: list[Problem] = []  # from the last read, for `beat check`-like callers
        self._next_poll_s = 0.0
        self._failing = False
        self._clash_logged: dict[str, Entry] = {}  # each clashing row is reported once

    def initial(self) -> dict[str, Entry]:
        """Read every row (raises SourceError if the database is unusable) and return the
        merged entries (the dict is handed over: nothing here keeps it)."""
        snapshot = self.source.load_all()
        self.cursor = snapshot.cursor
        self._report(snapshot.problems)
        rows = snapshot.entries
        if not self.yaml:
            return rows
        merged = dict(self.yaml)  # the YAML entries first, as before any row
        merged.update(rows)  # in C: a million rows
        for name, entry in self.yaml.items():  # a clash keeps the YAML entry, in its place
            if name in rows:
                self._hide(name, rows[name])
                merged[name] = entry
        rows.clear()
        return merged

    def replace_yaml(
        self, yaml_entries: Mapping[str, Entry], running: Mapping[str, Entry]
    ) -> dict[str, Entry]:
        """After a schedules.yaml reload: the new merged view (the service applies it whole,
        as it does for any YAML reload), from the new YAML entries, the rows that run now
        (``running``: the service's entries, whose source is this table) and the hidden
        rows whose YAML entries are gone."""
        self.yaml = yaml = dict(yaml_entries)
        merged = dict(yaml)
        table = self.source.name
        for name, entry in running.items():
            if entry.source != table:
                continue  # a YAML entry: the file's new form is in merged
            if name in yaml:
                self._hide(name, entry)
            else:
                merged[name] = entry
        for name in [name for name in self.hidden if name not in yaml]:
            merged[name] = self.hidden.pop(name)
        return merged

    def maybe_poll(self, monotonic_s: float) -> Delta | None:
        """:meth:`poll` if ``interval`` has passed since the last one, else None."""
        if monotonic_s < self._next_poll_s:
            return None
        self._next_poll_s = monotonic_s + self.interval_s
        return self.poll()

    def poll(self) -> Delta | None:
        """What changed in the database since the last read; None if nothing did, or if the
        database cannot be read now (logged once per outage; the next poll catches up).
        A removed name may be one the service never ran (an invalid row, or a row added and
        deleted between two polls): removing it is then a no-op."""
        if self.cursor is None:
            raise RuntimeError("SourcePoller.poll() before initial()")
        try:
            changes = self.source.changes_since(self.cursor)
        except SourceError as e:
            if not self._failing:
                log.error("SQL source unreadable, keeping the current entries: %s", e)
            self._failing = True
            return None
        if self._failing:
            log.info("SQL source readable again")
            self._failing = False
        self.cursor = changes.cursor
        self._report(changes.problems)
        delta = Delta()
        for name, entry in changes.changed.items():
            if name in self.yaml:
                self._hide(name, entry)
                continue
            delta.changed[name] = entry
        for name in changes.removed:
            if name in self.yaml:
                self.hidden.pop(name, None)
                continue
            delta.removed.append(name)
        if delta:
            log.info(
                "SQL source: %d entries changed, %d removed",
                len(delta.changed),
                len(delta.removed),
            )
        return delta or None

    def _hide(self, name: str, row: Entry) -> None:
        """Row ``name`` clashes with a YAML entry: kept aside, and reported once."""
        self.hidden[name] = row
        if self._clash_logged.get(name) is row:
            return
        self._clash_logged[name] = row
        log.error("%s: entries.%s: %s", self.source.name, name, CLASH_MESSAGE)

    def _report(self, problems: list[Problem]) -> None:
        self.problems = problems
        for problem in problems:
            log.error("SQL source: invalid entry skipped (last valid form kept): %s", problem)
