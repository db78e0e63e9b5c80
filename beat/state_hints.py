"""What the operator is told to do when the run-state database fails (:mod:`beat.state` and
:mod:`beat.state_read` word their errors alike), read from the driver's message."""

from __future__ import annotations

CORRUPT = "the file is not a valid beat state database"


def hint_for(message: str) -> str:
    """What the operator should do about a driver error, when we can tell."""
    text = message.lower()
    if "file is not a database" in text or "malformed" in text:
        return (
            f"{CORRUPT} (corrupt, or another kind of file): "
            "move it aside to start with fresh state; entries then first fire at their next "
            "scheduled instant"
        )
    if "database is locked" in text or "database table is locked" in text:
        return (
            "another process holds a lock on it (another beat using the same state file?): "
            "stop that process or give this beat its own file with -s"
        )
    if "unable to open database file" in text or "readonly" in text:
        return "check that its directory exists and is writable by this user"
    if "connection" in text or "could not connect" in text:
        return "check that the database server is running and reachable"
    return ""
