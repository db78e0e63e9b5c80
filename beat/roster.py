"""The entry table of a running beat: every entry, its run state, its phase-fixed schedule and
its place in the due index, changed in one way whatever the change came from.

A schedules.yaml reload, a SQL source delta and a leader takeover all go through
:meth:`Roster.apply` / :meth:`Roster.rebuild`, so the rules below are written once:

- An unchanged entry (same content and same ``enabled``) keeps its state and its next fire.
- A new or edited entry gets :func:`beat.planner.first_state`: never fires "immediately", and
  fires the old definition missed are not replayed under the new one.
- A re-enabled entry resumes at its next scheduled instant: the disabled period is not
  downtime, so nothing in it is "missed" (it is treated like an edit at the instant of the
  re-enable). A resumed entry (``beat resume``) follows the same rule at the resume instant
  (:func:`beat.pending.resumed`); a paused one is not indexed.

:func:`beat.pending.planned_state` is that rule for one entry, for whatever shows the fires
the beat will send (``beat next``, ``beat list``, the dashboard): the roster indexes an entry
only when :func:`beat.pending.sends` says so.

The roster holds memory only; the service persists what :meth:`apply` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from beat.due_index import DueIndex
from beat.entries import Entry, Schedule
from beat.pending import first_state, next_pending, resumed, sends
from beat.state_rows import EntryState, Pause


@dataclass(frozen=True, slots=True)
class Change:
    """What one :meth:`Roster.apply` did: states to persist and names to forget."""

    persist: list[EntryState]
    removed: list[str]


class Roster:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.states: dict[str, EntryState] = {}
        self.index = DueIndex()
        # Phase-fixed schedules by (schedule, first seen), shared by the entries that have
        # both in common (all entries first seen at one start-up): nothing kept per entry.
        self._anchored: dict[tuple[Schedule, datetime], Schedule] = {}
        # The entries paused now (beat pause), as last read from the run state.
        self.paused: dict[str, Pause] = {}

    def load_states(self, states: Mapping[str, EntryState]) -> None:
        """The stored run state, before the first :meth:`apply` (start-up)."""
        self.states = dict(states)

    def apply(self, upserts: Mapping[str, Entry], removals: Iterable[str], now: datetime) -> Change:
        """Remove ``removals``, then add or replace ``upserts``; unchanged entries are left as
        they are (see the module docstring for the rules)."""
        removed = [name for name in removals if name in self.entries or name in self.states]
        for name in removed:
            self.entries.pop(name, None)
            self.states.pop(name, None)
            self.index.remove(name)
        persist: list[EntryState] = []
        # Start-up: the loaded dict becomes the roster's own instead of being copied (a
        # million entries: ~40 MB). The caller hands it over (see EntrySource.entries).
        adopt = not self.entries and type(upserts) is dict
        for name, entry in upserts.items():
            before = None if adopt else self.entries.get(name)
            if not adopt:
                self.entries[name] = entry
            if (
                before is not None
                and before.enabled == entry.enabled
                and before.content_hash() == entry.content_hash()
            ):
                continue
            previous = self.states.get(name)
            if previous is not None and before is not None and entry.enabled and not before.enabled:
                previous = resumed(previous, now)  # re-enabled: nothing replayed
            state = first_state(entry, now, previous)
            if state != previous:
                persist.append(state)
            self._index(name, entry, state, fresh=adopt)
        if adopt:
            assert isinstance(upserts, dict)
            self.entries = upserts
        return Change(persist, removed)

    def rebuild(self, states: Mapping[str, EntryState], now: datetime) -> list[EntryState]:
        """Take over ``states`` (written by another leader) and re-index every entry from them;
        the states to persist (entries that leader never saw)."""
        self.states = dict(states)
        self.index = DueIndex()
        self._anchored.clear()
        persist: list[EntryState] = []
        for name, entry in self.entries.items():
            previous = self.states.get(name)
            state = first_state(entry, now, previous)
            if state != previous:
                persist.append(state)
            self._index(name, entry, state)
        return persist

    def set_pauses(self, pauses: Mapping[str, Pause], now: datetime) -> list[EntryState]:
        """Follow the pauses read from the run state (every tick, so ``beat pause`` needs no
        reload): a paused entry leaves the index, a resumed one runs again from its resume
        instant (:func:`beat.pending.resumed`). Idempotent; the states to persist."""
        was = self.paused
        self.paused = {name: p for name, p in pauses.items() if p.paused}
        persist: list[EntryState] = []
        for name in self.paused:
            self.index.remove(name)
        for name, pause in pauses.items():
            if not pause.paused:
                self._resume(name, pause.since, name in was, persist)
        for name in was.keys() - pauses.keys():  # the row is gone: running again from now
            self._resume(name, now, True, persist)
        return persist

    def _resume(self, name: str, at: datetime, unindexed: bool, persist: list[EntryState]) -> None:
        entry, state = self.entries.get(name), self.states.get(name)
        if entry is None or state is None:
            return
        after = resumed(state, at)
        if after is not state:
            persist.append(after)
        if after is not state or unindexed:
            self._index(name, entry, after)

    def _index(self, name: str, entry: Entry, state: EntryState, fresh: bool = False) -> None:
        """``fresh``: the roster had no entries, so the index has none to remove (start-up:
        the removal was a tenth of indexing 100,000 entries)."""
        self.states[name] = state
        if not fresh:
            self.index.remove(name)
        if sends(entry, self.paused.get(name)):
            nxt = next_pending(entry, state)
            if nxt is not None:
                self.index.push(name, nxt)

    def fired(self, name: str, last: datetime, now: datetime) -> None:
        """``last`` (a scheduled instant) was disposed of at ``now``."""
        st = self.states[name]
        # Spelled out, not dataclasses.replace: this runs once per fire (replace is ~3x dearer).
        self.states[name] = EntryState(
            st.name, last, st.first_seen, st.content_hash, now, st.edited_at
        )

    def schedule(self, name: str) -> Schedule:
        """The entry's schedule with its phase fixed (cached: anchoring is not free)."""
        base, first_seen = self.entries[name].schedule, self.states[name].first_seen
        key = (base, first_seen)
        try:
            schedule = self._anchored.get(key)
        except TypeError:  # an unhashable schedule (made in code): anchored each time
            return base.anchored(first_seen)
        if schedule is None:
            schedule = base.anchored(first_seen)
            if schedule is base:  # phase fixed already (cron, a start): nothing to keep
                return base
            if len(self._anchored) >= 65536:  # bounded: entries first seen at many instants
                self._anchored.clear()
            self._anchored[key] = schedule
        return schedule

    def enabled_count(self) -> int:
        return sum(e.enabled for e in self.entries.values())
