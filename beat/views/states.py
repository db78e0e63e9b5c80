"""The run state as the read-only views need it: every entry's state, by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from beat.state_rows import EntryState, Pause

if TYPE_CHECKING:
    from beat.state import StateStore


def read_states(location: str) -> dict[str, EntryState]:
    """The run state at ``location`` if it exists (``beat list`` works before the first run
    too); raises :class:`~beat.errors.StateError` when it cannot be read."""
    return _read(location, pauses=False)


def read_pauses(location: str) -> dict[str, Pause]:
    """The pauses kept in the run state at ``location`` (``beat pause``), read like
    :func:`read_states`; {} before the first run."""
    return _read(location, pauses=True)


def read_entry(location: str, name: str) -> tuple[EntryState | None, Pause | None]:
    """The run state and the pause of the one entry ``name`` at ``location`` (None where it
    has none, or before the first run), read like :func:`read_states`: from a SQLite file
    only that entry's rows, in one connection (``beat next``)."""
    from beat.state_read import read_entry_file, sqlite_state_file

    path = sqlite_state_file(location)
    if path is not None:
        return read_entry_file(path, name, location)
    store = _store(location)
    if store is None:
        return None, None
    try:
        return store.load().get(name), store.load_pauses().get(name)
    finally:
        store.close()


def _read(location: str, *, pauses: bool) -> dict[str, Any]:
    """A SQLite file is read with :mod:`beat.state_read` (read-only, no SQLAlchemy import);
    other databases through the store."""
    from beat.state_read import read_pause_file, read_state_file, sqlite_state_file

    path = sqlite_state_file(location)
    if path is not None:
        return dict((read_pause_file if pauses else read_state_file)(path, location))
    store = _store(location)
    if store is None:
        return {}
    try:
        return dict(store.load_pauses() if pauses else store.load())
    finally:
        store.close()


def _store(location: str) -> StateStore | None:
    """The store at ``location`` (a database other than a SQLite file), or None for a file
    that does not exist yet (looking never creates it)."""
    if "://" not in location and not Path(location).exists():
        return None
    from beat.state import StateStore

    return StateStore(location)
