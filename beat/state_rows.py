"""The run state's records, :class:`EntryState` and :class:`Pause`, and their decoding from
table rows: one decoding for the store (:mod:`beat.state`) and the read-only path
(:mod:`beat.state_read`) alike. No SQLAlchemy here: importing a record stays cheap for the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from beat import state_names as col
from beat.errors import StateError
from beat.state_epoch import from_epoch_us


@dataclass(frozen=True, slots=True)
class EntryState:
    """What beat remembers about one entry across restarts. Every instant is aware UTC.

    ``last_fire``: the last *scheduled* instant disposed of (sent or skipped as missed), None
    before the first. ``first_seen``: when beat first indexed the entry (the phase anchor of an
    interval with no ``start``). ``content_hash``: :meth:`Entry.content_hash` when last indexed.
    ``last_dispatched_at``: when the last fire was recorded. ``edited_at``: when the entry was
    last seen edited; fires of the new definition start strictly after it (see
    :func:`beat.planner.first_state`), None if never edited.
    """

    name: str
    last_fire: datetime | None
    first_seen: datetime
    content_hash: str
    last_dispatched_at: datetime | None = None
    edited_at: datetime | None = None


# A state's fields, in EntryState's order: what the store writes of it.
StateFields = tuple[str, datetime | None, datetime, str, datetime | None, datetime | None]


@runtime_checkable
class StateFieldsOf(Protocol):
    """States that give their fields without an :class:`EntryState` each, one state per name
    (the roster's, a million at start-up: :class:`beat.records.StatesOf`)."""

    def fields(self) -> Iterator[StateFields]: ...


def fields_of(states: Sequence[EntryState]) -> Iterator[StateFields]:
    """The fields of ``states``, one per name: the last state given for a name wins."""
    if isinstance(states, StateFieldsOf):
        return states.fields()  # read one at a time: no list of them at the peak
    unique = {s.name: s for s in states}.values()
    return (
        (s.name, s.last_fire, s.first_seen, s.content_hash, s.last_dispatched_at, s.edited_at)
        for s in unique
    )


# The instant columns of a state row (name, last, first, digest, dispatched, edited).
_INSTANTS = ((1, col.LAST_FIRE_US), (2, col.FIRST_SEEN_US), (4, col.LAST_DISPATCHED_AT_US),
             (5, col.EDITED_AT_US))  # fmt: skip
_MAX_INSTANTS = 1 << 16  # distinct instants kept converted while reading


def fields_from_rows(
    chunks: Iterable[Sequence[tuple[Any, ...]]], shown: str
) -> Iterator[StateFields]:
    """Each stored state's fields from the state table's rows (in ``state_names.COLUMNS``
    order), given a chunk at a time, for the store and the read-only path alike: a restart
    reads a million rows into the roster's records without holding them all (issue 17). A
    value that is no instant is a StateError naming the store (``shown``), the entry and the
    field."""
    # Instants repeat a lot (every entry first seen at one start-up, entries on one schedule
    # firing together): convert each distinct value once, and share the objects. Bounded.
    at: dict[Any, Any] = {None: None}  # first_seen is NOT NULL in the table
    for rows in chunks:
        if len(at) > _MAX_INSTANTS:
            at = {None: None}
        for index, column in _INSTANTS:
            for row in rows:
                value = row[index]
                if value not in at:
                    at[value] = _instant(value, row[0], column, shown)
        for name, last, first, digest, dispatched, edited in rows:
            yield name, at[last], at[first], digest, at[dispatched], at[edited]


def _instant(value: Any, name: Any, column: str, shown: str) -> datetime:
    try:
        return from_epoch_us(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise StateError(
            f"state store {shown}: entry {name!r}: {column} is not an instant in "
            f"microseconds since the epoch: {e}"
        ) from e


def states_from_rows(rows: Sequence[tuple[Any, ...]], shown: str) -> dict[str, EntryState]:
    """Every entry's state from the state table's rows (see :func:`fields_from_rows`)."""
    return states_of(fields_from_rows((rows,), shown))


def states_of(stored: Iterable[StateFields]) -> dict[str, EntryState]:
    """The states of ``stored`` fields, by name."""
    return {fields[0]: EntryState(*fields) for fields in stored}


@dataclass(frozen=True, slots=True)
class Pause:
    """An entry's pause (``beat pause`` / ``beat resume``, ``pause_on_failure``).

    ``paused`` True: paused from ``since`` on, ``note`` says why. False: resumed at ``since``;
    the row stays so that every beat (a restart, a new leader) applies the re-enable rule
    (:func:`beat.pending.resumed`) at that instant and the paused period is never replayed,
    whoever noticed the resume first.
    """

    name: str
    paused: bool
    note: str
    since: datetime


def pauses_from_rows(rows: Sequence[tuple[Any, ...]], shown: str) -> dict[str, Pause]:
    """Pauses from rows in ``state_names.PAUSE_COLUMNS`` order (the store and the read-only
    path); a bad instant is a StateError naming the store (``shown``), the entry and the field."""
    out: dict[str, Pause] = {}
    for name, paused, note, since_us in rows:
        since = _instant(since_us, name, col.SINCE_US, shown)
        out[name] = Pause(name, bool(paused), note or "", since)
    return out
