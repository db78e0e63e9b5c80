"""The roster's per-entry record, and the read-only views that show it as entries and states.

A beat holds every entry as long as it runs, so what it keeps per entry is what a million
entries cost (issue 17: under 300 MB). One :class:`Record` per entry holds all of it: the
entry's shared :class:`~beat.entries.EntrySpec`, the instants of its run state and its place
in the due index (:class:`~beat.due_index.Slot`). The name is the key of the one dict of
records; the state's content hash is the spec's digest (kept once per spec: a state stored
under another definition is an edited entry's, made anew at start-up, see Roster.start).

No :class:`~beat.entries.Entry` or :class:`~beat.state_rows.EntryState` is kept per entry: the
views build one when it is asked for (two small objects, collected at once), so callers keep
reading ``roster.entries[name]`` and ``roster.states.get(name)`` as mappings.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from datetime import datetime
from itertools import chain
from typing import overload

from beat.due_index import Bucket
from beat.entries import Entry, EntrySpec
from beat.state_rows import EntryState, StateFields

# Entry.of without its call and its two object.__setattr__ look-ups: the views build an Entry
# per access, several times per fire (planner, encoder, overlap gate), so it is kept cheap.
_new = object.__new__
_set_name = Entry.__dict__["name"].__set__
_set_spec = Entry.__dict__["spec"].__set__


def make_entry(name: str, spec: EntrySpec) -> Entry:
    entry: Entry = _new(Entry)
    _set_name(entry, name)
    _set_spec(entry, spec)
    return entry


Pair = tuple[datetime | None, datetime | None]

# Pairs of instants, shared: entries first seen at one start-up share their (first seen,
# edited) pair, entries fired in one round their (last fire, dispatched) pair. Bounded: past
# it, pairs made from then on are shared among themselves only.
_PAIRS: dict[Pair, Pair] = {}
_MAX_PAIRS = 1 << 16


def pair(a: datetime | None, b: datetime | None) -> Pair:
    """``(a, b)``, the one tuple of those instants that is shared."""
    key = (a, b)
    shared = _PAIRS.get(key)
    if shared is None:
        if len(_PAIRS) >= _MAX_PAIRS:
            _PAIRS.clear()
        shared = _PAIRS[key] = key
    return shared


# The instants of a record made before its state is known (Roster.start reads the stored
# states into the records): first seen None, which no state has.
UNSTATED: Pair = (None, None)


def instants(state: EntryState) -> tuple[Pair, Pair]:
    """A state's instants as a record keeps them: (last fire, dispatched), (first seen,
    edited), each pair shared."""
    return pair(state.last_fire, state.last_dispatched_at), pair(state.first_seen, state.edited_at)


class Record:
    """One entry: its spec, its run state's instants (see :class:`EntryState`) as two shared
    pairs (:func:`instants`), and its due index bucket. Four slots: 64 bytes with the object's
    header (six slots, one per instant, were 80)."""

    __slots__ = ("bucket", "fired", "seen", "spec")

    def __init__(self, spec: EntrySpec, fired: Pair, seen: Pair) -> None:
        self.spec = spec
        self.bucket: Bucket | None = None
        self.fired = fired  # (last_fire, last_dispatched_at)
        self.seen = seen  # (first_seen, edited_at)

    @classmethod
    def like(cls, spec: EntrySpec, other: Record) -> Record:
        """A record of ``spec`` in ``other``'s state (every new entry's, at start-up)."""
        record = cls.__new__(cls)
        record.spec, record.bucket, record.fired, record.seen = spec, None, other.fired, other.seen
        return record

    def set_state(self, state: EntryState) -> None:
        self.fired, self.seen = instants(state)

    @property
    def first_seen(self) -> datetime:
        first_seen = self.seen[0]
        assert first_seen is not None
        return first_seen

    def state(self, name: str) -> EntryState:
        """The run state of entry ``name`` (this record's)."""
        (last_fire, dispatched), (first_seen, edited) = self.fired, self.seen
        assert first_seen is not None
        return EntryState(name, last_fire, first_seen, self.spec.content_hash(), dispatched, edited)


class EntriesView(Mapping[str, Entry]):
    """The roster's entries, by name (read-only; an Entry is built per access)."""

    __slots__ = ("_records",)

    def __init__(self, records: dict[str, Record]) -> None:
        self._records = records

    def __getitem__(self, name: str) -> Entry:
        return make_entry(name, self._records[name].spec)

    def get(self, name: str, default: Entry | None = None) -> Entry | None:  # type: ignore[override]
        record = self._records.get(name)
        return default if record is None else make_entry(name, record.spec)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def values(self) -> ValuesView[Entry]:
        return _EntryValues(self, self._records)

    def items(self) -> ItemsView[str, Entry]:
        return _EntryItems(self, self._records)


# Iterated from the records in one pass: a look-up per key (Mapping's own) costs a million of
# them at start-up.
class _EntryValues(ValuesView[Entry]):
    __slots__ = ("_records",)

    def __init__(self, view: EntriesView, records: dict[str, Record]) -> None:
        super().__init__(view)
        self._records = records

    def __iter__(self) -> Iterator[Entry]:
        return (make_entry(name, r.spec) for name, r in self._records.items())


class _EntryItems(ItemsView[str, Entry]):
    __slots__ = ("_records",)

    def __init__(self, view: EntriesView, records: dict[str, Record]) -> None:
        super().__init__(view)
        self._records = records

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        return ((name, make_entry(name, r.spec)) for name, r in self._records.items())


class StatesView(Mapping[str, EntryState]):
    """The roster's run states, by name: every entry's, then the stored states of names that
    are no entry (``orphans``: read at start-up or from another leader). Read-only."""

    __slots__ = ("_orphans", "_records")

    def __init__(self, records: dict[str, Record], orphans: dict[str, EntryState]) -> None:
        self._records = records
        self._orphans = orphans

    def __getitem__(self, name: str) -> EntryState:
        record = self._records.get(name)
        if record is None:
            return self._orphans[name]
        return record.state(name)

    def get(  # type: ignore[override]
        self, name: str, default: EntryState | None = None
    ) -> EntryState | None:
        record = self._records.get(name)
        if record is None:
            return self._orphans.get(name, default)
        return record.state(name)

    def __contains__(self, name: object) -> bool:
        return name in self._records or name in self._orphans

    def fields(self, names: list[str]) -> Iterator[StateFields]:
        """The fields of the states of ``names`` (see :class:`StatesOf`)."""
        records = self._records
        for name in names:  # entries all (what Roster.apply persists)
            record = records[name]
            (last_fire, dispatched), (first_seen, edited) = record.fired, record.seen
            assert first_seen is not None
            yield name, last_fire, first_seen, record.spec.content_hash(), dispatched, edited

    def __iter__(self) -> Iterator[str]:
        return chain(self._records, self._orphans)

    def __len__(self) -> int:
        return len(self._records) + len(self._orphans)


class StatesOf(Sequence[EntryState]):
    """The states of ``names`` as the roster holds them when read: what :meth:`Roster.apply`
        asks to persist, read right after it. Not a list of states: at start-up a million states
        made with the records and kept until persisted would leave their memory behind, half of
        every pool the records share with them (measured at a million, with the loaded entries also
    kept until the end: 490 MB at ready, more than the 441 MB before the records)."""

    __slots__ = ("_names", "_states")

    def __init__(self, names: list[str], states: StatesView) -> None:
        self._names = names
        self._states = states

    @overload
    def __getitem__(self, i: int) -> EntryState: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[EntryState]: ...

    def __getitem__(self, i: int | slice) -> EntryState | Sequence[EntryState]:
        if isinstance(i, slice):
            return StatesOf(self._names[i], self._states)
        return self._states[self._names[i]]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[EntryState]:
        states = self._states
        return (states[name] for name in self._names)

    def fields(self) -> Iterator[StateFields]:
        """Each state's fields, read from its record: no EntryState built (the store's
        :meth:`~beat.state.StateStore.upsert_new` at start-up: a million new entries)."""
        return self._states.fields(self._names)
