"""Create a SQLite database file with a chosen mode without ever touching a live one.

SQLite coordinates processes with POSIX advisory locks, and POSIX drops *every* lock a process
holds on a file when the process closes *any* descriptor of that file (SQLite, "How To
Corrupt An SQLite Database File", section 2.2). So a process that may hold SQLite connections
to a database must never ``open()``/``close()`` the file itself: the close silently releases
its connections' locks, and another process then believes it is the last user, checkpoints
and deletes the ``-wal``/``-shm`` files under live connections, and commits are lost or the
file is corrupted.

:func:`create_database_file` therefore never opens the final path. It builds the database
under a temporary name in the same directory (mode set there, WAL set there), closes it, and
publishes it with ``link()``, which is atomic and fails if the name exists: of several
processes or threads creating the same file at once, exactly one wins and the others' copies
are discarded. An existing file is left alone entirely (its mode is the owner's choice).

Also here, with no SQLAlchemy either: the file a ``sqlite:///`` URL names (:func:`sqlite_path`)
and a read-only connection that never creates the file (:func:`connect_readonly`), for the
read-only CLI commands.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from taskqueue.errors import UnknownBrokerURL

__all__ = ["connect_readonly", "create_database_file", "sqlite_path"]

# Files SQLite may leave beside a database; a discarded temporary copy must not leave them.
_SIDE_FILES = ("-wal", "-shm", "-journal")
_URL_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (as SQLAlchemy)."""
    if not url.startswith(_URL_PREFIX):
        raise UnknownBrokerURL(url)
    path = url.removeprefix(_URL_PREFIX).split("?", 1)[0]
    if not path or path == ":memory:":
        # An in-memory database cannot be shared between processes, which is the whole point.
        raise UnknownBrokerURL(url)
    return Path(path)


def connect_readonly(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A read-only connection to the existing database ``path`` (``mode=ro``: a missing file
    is an error, never created; no statement can write). Autocommit: each statement reads a
    snapshot of its own; wrap several in ``BEGIN``/``COMMIT`` for one snapshot.

    In WAL mode SQLite may leave the (empty) ``-wal``/``-shm`` files beside the database after
    a read-only connection closes, as it cannot checkpoint; the next writer uses them.
    """
    uri = f"{path.absolute().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)


def create_database_file(path: Path, mode: int = 0o600) -> bool:
    """Create the SQLite database ``path`` (WAL mode, file mode ``mode``) unless it exists.

    True if this call created it. Raises OSError (naming the path) when the directory is
    missing or not writable. SQLite gives the ``-wal`` and ``-shm`` files the database file's
    mode, so with the default they are owner-only too.
    """
    if path.exists():
        return False
    # Imported here: tempfile brings shutil, bz2, lzma and random, which the read-only commands
    # (connect_readonly, sqlite_path) never need.
    import tempfile

    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    except OSError as e:  # name the file asked for, not the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from e
    temp = Path(temp_name)
    try:
        # Nothing else knows this file yet: closing its descriptor cannot drop anyone's lock.
        os.fchmod(fd, mode)
        os.close(fd)
        _initialise(temp)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False  # another process or thread created it first: theirs is used
        return True
    finally:
        for name in (temp_name, *(temp_name + side for side in _SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def _initialise(path: Path) -> None:
    """Make ``path`` a valid, empty database in WAL mode (stored in its header, so the first
    connection to the published file does not need the exclusive lock to switch modes)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
    finally:
        conn.close()
