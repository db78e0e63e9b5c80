"""What ``beat pause|resume`` and the dashboard's pause/resume say they did."""

from __future__ import annotations

from datetime import datetime

from beat.state_rows import Pause


def describe_pause(name: str, paused: bool, note: str, before: Pause | None, now: datetime) -> str:
    """One line: paused since when (an entry already paused keeps its first instant) and why,
    resumed (and since when it was paused), or that it was not paused."""
    if paused:
        since = before.since if before is not None and before.paused else now
        return f"paused {name} since {since.isoformat()}" + (f": {note}" if note else "")
    if before is None or not before.paused:
        return f"{name} was not paused"
    return f"resumed {name} (paused since {before.since.isoformat()})"
