"""The names of the run-state table and the URL of its store: one definition, used by the
SQLAlchemy store (:mod:`beat.state`) and the read-only fast path (:mod:`beat.state_read`).

Standard library only, so ``beat list`` and ``beat next`` read the state without SQLAlchemy.
Every instant column holds integer microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

# A writer waits this long for another process's lock before failing with "database is locked".
BUSY_TIMEOUT_MS: Final = 5_000


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL for ``url``: a plain path becomes ``sqlite:///<absolute path>``;
    ``postgresql://`` (no driver) uses psycopg 3, the driver this project ships with."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


TABLE_NAME: Final = "beat_entry_state"

NAME: Final = "name"
LAST_FIRE_US: Final = "last_fire_us"
FIRST_SEEN_US: Final = "first_seen_us"
CONTENT_HASH: Final = "content_hash"
LAST_DISPATCHED_AT_US: Final = "last_dispatched_at_us"
EDITED_AT_US: Final = "edited_at_us"

# In the order of EntryState's fields: a row read in this order builds one positionally.
COLUMNS: Final = (
    NAME,
    LAST_FIRE_US,
    FIRST_SEEN_US,
    CONTENT_HASH,
    LAST_DISPATCHED_AT_US,
    EDITED_AT_US,
)

# --- pauses (``beat pause`` / ``beat resume``, ``pause_on_failure``): one row per entry ever
# paused; ``paused`` 0 keeps the resume instant (``since_us``), the boundary fires start after.
PAUSE_TABLE: Final = "beat_entry_pause"
PAUSED: Final = "paused"
NOTE: Final = "note"
SINCE_US: Final = "since_us"
PAUSE_COLUMNS: Final = (NAME, PAUSED, NOTE, SINCE_US)

# --- the fire log (``beat history``): per entry, its recent fires and what became of each
# (sent, duplicate, skipped, failed), written in the transaction that records the fires.
LOG_TABLE: Final = "beat_fire_log"
FIRE_US: Final = "fire_us"
FIRE_ID: Final = "fire_id"
AT_US: Final = "at_us"
OUTCOME: Final = "outcome"
REASON: Final = "reason"
LOG_COLUMNS: Final = (NAME, FIRE_US, FIRE_ID, AT_US, OUTCOME, REASON)
