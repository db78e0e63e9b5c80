"""The queue statistics of the SQLite file, from its per-state counts.

Shared by the broker (:mod:`taskqueue.sqlite.inspection`, SQLAlchemy) and the read-only fast
path (:mod:`taskqueue.sqlite_read`, sqlite3): both count rows by ``(queue, state)`` and build the
same records from the counts. Standard library only, like :mod:`taskqueue.sqlite_names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from taskqueue.sqlite_names import DELAYED, IN_FLIGHT, READY
from taskqueue.status_records import QueueStats

# The state counted for an in-flight row whose lease deadline has passed (not a stored state).
EXPIRED_LEASE: Final = "expired_lease"


def build_queue_stats(
    ordered: Iterable[Any],
    counts: Mapping[tuple[Any, Any], int],
    dead: Mapping[Any, int],
    listening: Mapping[Any, int],
) -> list[QueueStats]:
    """One record per queue in ``ordered``: its counts by state, dead letters and consumers."""
    return [
        QueueStats(
            name=q,
            ready=counts.get((q, READY), 0),
            delayed=counts.get((q, DELAYED), 0),
            in_flight=counts.get((q, IN_FLIGHT), 0),
            dead=dead.get(q, 0),
            consumers=listening.get(q, 0),
            expired_lease=counts.get((q, EXPIRED_LEASE), 0),
        )
        for q in ordered
    ]
