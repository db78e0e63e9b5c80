"""The entry table of a running beat: every entry, its run state, its phase-fixed schedule and
its place in the due index, changed in one way whatever the change came from.

The start-up, a schedules.yaml reload, a SQL source delta and a leader takeover all go
through :meth:`Roster.start` / :meth:`Roster.apply` / :meth:`Roster.rebuild`, so the rules
below are written once:

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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from beat.due_index import DueIndex
from beat.entries import Entry, EntrySpec, Overlap, Schedule
from beat.pending import first_state_of, next_pending, resumed, sends
from beat.records import (
    UNSTATED,
    EntriesView,
    Pair,
    Record,
    StatesOf,
    StatesView,
    instants,
    pair,
)
from beat.state_rows import EntryState, Pause, StateFields


@dataclass(frozen=True, slots=True)
class Change:
    """What one :meth:`Roster.apply` did: states to persist (read as the roster holds them:
    persist them before the next change) and names to forget."""

    persist: Sequence[EntryState]
    removed: list[str]


class Roster:
    """Every entry as one :class:`~beat.records.Record` in one dict (issue 17: per entry a
    name, a record, a dict slot and a due-index list slot); ``entries`` and ``states`` are
    read-only views of it, ``index`` keeps its buckets in the records."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        # Stored states of names that are no entry (read at start-up, or from another leader).
        self._orphans: dict[str, EntryState] = {}
        self.entries = EntriesView(self._records)
        self.states = StatesView(self._records, self._orphans)
        self.index = DueIndex(self._records)
        # Phase-fixed schedules by (schedule, first seen), shared by the entries that have
        # both in common (all entries first seen at one start-up): nothing kept per entry.
        self._anchored: dict[tuple[Schedule, datetime], Schedule] = {}
        # The entries paused now (beat pause), as last read from the run state.
        self.paused: dict[str, Pause] = {}

    def start(
        self, upserts: Mapping[str, Entry], stored: Iterable[StateFields], now: datetime
    ) -> Change:
        """The first :meth:`apply` (start-up), with the stored run states ``stored`` (the
        store's :meth:`~beat.state.StateStore.reading`): a record for every entry first, then
        each stored state read into its entry's record as it comes (one of no entry is kept
        aside), then the rules of :meth:`apply` (an unchanged entry keeps its stored state, an
        edited or new one gets :func:`first_state_of`) and the index. No EntryState is made
        for a stored state that is its entry's (a million at a restart: issue 17)."""
        if self._records or self._orphans:
            raise ValueError("Roster.start: entries or states are loaded already")
        records = self._records
        # The caller hands its dict over (EntrySource.entries), as to apply: each entry is let
        # go once its record is made, so the records reuse the entries' memory.
        handed = upserts if isinstance(upserts, dict) else None
        for name in upserts if handed is None else list(handed):
            spec = (upserts[name] if handed is None else handed.pop(name)).spec
            spec.content_hash()  # kept with the spec, made now: see _add
            records[name] = Record(spec, UNSTATED, UNSTATED)
        if handed is not None:
            handed.clear()
        persist: list[str] = []
        for name, last, first, digest, dispatched, edited in stored:
            record = records.get(name)
            if record is None:
                self._orphans[name] = EntryState(name, last, first, digest, dispatched, edited)
            elif digest == record.spec.content_hash():  # first_state_of: unchanged, as is
                record.fired, record.seen = pair(last, dispatched), pair(first, edited)
            else:
                previous = EntryState(name, last, first, digest, dispatched, edited)
                record.set_state(first_state_of(name, record.spec, now, previous))
                persist.append(name)
        new: tuple[Pair, Pair] | None = None
        for name, record in records.items():
            if record.seen[0] is None:  # no stored state: first seen now
                if new is None:
                    new = instants(first_state_of(name, record.spec, now, None))
                record.fired, record.seen = new
                persist.append(name)
        self._index_all()
        return Change(StatesOf(persist, self.states), [])

    def _index_all(self) -> None:
        """Index every record at its next fire, computed once per spec and instants (entries
        of one setting share both, a million entries have a few thousand of them)."""
        known: dict[tuple[int, Pair, Pair], datetime | None] = {}
        paused, push = self.paused, self.index.push
        for name, record in self._records.items():
            spec = record.spec
            if not sends(spec, paused.get(name)):
                continue
            key = (id(spec), record.fired, record.seen)  # each spec is kept by its record
            try:
                nxt = known[key]
            except KeyError:
                if len(known) >= 4096:  # bounded: entries with specs of their own share none
                    known.clear()
                nxt = known[key] = next_pending(spec, record.state(name))
            if nxt is not None:
                push(name, nxt)

    def apply(self, upserts: Mapping[str, Entry], removals: Iterable[str], now: datetime) -> Change:
        """Remove ``removals``, then add or replace ``upserts``; unchanged entries are left as
        they are (see the module docstring for the rules)."""
        records = self._records
        removed = [name for name in removals if name in records or name in self._orphans]
        for name in removed:
            self.index.remove(name)
            records.pop(name, None)
            self._orphans.pop(name, None)
        persist: list[str] = []
        # Into an empty roster (as at start-up, see start): the caller hands its dict over
        # (EntrySource.entries), so each entry is let go once its record is made, and the
        # records reuse the entries' memory (a million entries: 48 MB) instead of leaving it
        # free but held.
        handed = upserts if not records and isinstance(upserts, dict) else None
        # A new entry's state is first seen now, never fired, whatever the entry: the first
        # one's (first_state_of) serves every other, and its next fire is computed once per
        # spec. So a new entry costs no Entry nor EntryState (issue 17: a million at start-up).
        new: EntryState | None = None
        model: Record | None = None  # a record in that state: the others copy its instants
        new_next: dict[int, datetime | None] = {}
        for name in upserts if handed is None else list(handed):
            spec = (upserts[name] if handed is None else handed.pop(name)).spec
            record = records.get(name)
            if record is None:
                previous = self._orphans.pop(name, None) if self._orphans else None
                if previous is None:
                    if new is None or model is None:
                        new = first_state_of(name, spec, now, None)
                        model = Record(spec, *instants(new))
                    self._add(name, Record.like(spec, model), new, new_next)
                    persist.append(name)
                    continue
            else:
                before = record.spec
                if before.enabled == spec.enabled and before.content_hash() == spec.content_hash():
                    record.spec = spec  # an equal definition (its source may differ)
                    continue
                previous = self.states[name]
                if spec.enabled and not before.enabled:
                    previous = resumed(previous, now)  # re-enabled: nothing replayed
            state = first_state_of(name, spec, now, previous)  # its content hash is the spec's
            if state is not previous:
                persist.append(name)
            if record is None:
                records[name] = Record(spec, *instants(state))
                self._index(name, spec, state)
            else:
                record.spec = spec
                self._index(name, spec, state, record)
        if handed is not None:
            handed.clear()  # emptied by pops, its table is still allocated (a million: 31 MB)
        return Change(StatesOf(persist, self.states), removed)

    def _add(
        self, name: str, record: Record, new: EntryState, new_next: dict[int, datetime | None]
    ) -> None:
        """Add the new entry ``name``, its ``record`` in the state ``new`` (its instants are
        every new entry's), indexed at its next fire (``new_next``: by spec, as computed so
        far)."""
        self._records[name] = record  # keeps the instants only
        spec = record.spec
        # The digest (kept with the spec) made now, beside the record: made as the rows to
        # persist are read, each would pin the rows' memory once it is freed (a million:
        # 90 MB more at ready).
        spec.content_hash()
        key = id(spec)  # the spec is kept by its record: its id stays its own
        if key in new_next:
            nxt = new_next[key]
        else:
            if len(new_next) >= 4096:  # bounded: entries with specs of their own share none
                new_next.clear()
            nxt = new_next[key] = next_pending(spec, new)
        if nxt is not None and sends(spec, self.paused.get(name)):
            self.index.push(name, nxt)

    def rebuild(self, states: Mapping[str, EntryState], now: datetime) -> list[EntryState]:
        """Take over ``states`` (written by another leader) and re-index every entry from them;
        the states to persist (entries that leader never saw)."""
        self.index.clear()
        self._anchored.clear()
        persist: list[EntryState] = []
        for name, record in self._records.items():
            previous = states.get(name)
            state = first_state_of(name, record.spec, now, previous)
            if state != previous:
                persist.append(state)
            self._index(name, record.spec, state, record)
        self._orphans.clear()
        self._orphans.update((n, s) for n, s in states.items() if n not in self._records)
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
        record = self._records.get(name)
        if record is None:
            return
        state = self.states[name]
        after = resumed(state, at)
        if after is not state:
            persist.append(after)
        if after is not state or unindexed:
            self._index(name, record.spec, after, record)

    def _index(
        self, name: str, spec: EntrySpec, state: EntryState, record: Record | None = None
    ) -> None:
        """Index the entry's next fire from ``state`` (or take it out of the index), keeping
        ``state`` in its ``record`` (None: a record just made from it)."""
        if record is not None:
            record.set_state(state)
        nxt = next_pending(spec, state) if sends(spec, self.paused.get(name)) else None
        if nxt is not None:
            self.index.push(name, nxt)  # replaces its place, if it had one
        elif record is not None and record.bucket is not None:
            self.index.remove(name)

    def fired(self, name: str, last: datetime, now: datetime) -> None:
        """``last`` (a scheduled instant) was disposed of at ``now``."""
        self._records[name].fired = pair(last, now)

    def schedule(self, name: str) -> Schedule:
        """The entry's schedule with its phase fixed (cached: anchoring is not free)."""
        record = self._records[name]
        base, first_seen = record.spec.schedule, record.first_seen
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

    def enabled_specs(self) -> tuple[list[str], list[EntrySpec]]:
        """The enabled entries' names and specs, in two lists (no Entry built per entry)."""
        records = self._records
        names = [name for name, r in records.items() if r.spec.enabled]
        return names, [r.spec for r in records.values() if r.spec.enabled]

    def with_policies(self) -> list[str]:
        """The entries that use a run policy (overlap, pause_on_failure: beat.overlap)."""
        # Asked of each distinct spec (entries share specs), and of each entry only when one
        # has a policy: at start-up, 100,000 entries usually have none.
        specs = list(map(_spec_of, self._records.values()))
        distinct = dict(zip(map(id, specs), specs, strict=True)).values()
        if not any(s.overlap is not Overlap.ALLOW or s.pause_on_failure for s in distinct):
            return []
        return [
            name
            for name, spec in zip(self._records, specs, strict=True)
            if spec.overlap is not Overlap.ALLOW or spec.pause_on_failure
        ]

    def enabled_count(self) -> int:
        return sum(r.spec.enabled for r in self._records.values())


_spec_of = attrgetter("spec")  # a record's spec, read in C
