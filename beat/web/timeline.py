"""The next-24-h timeline of 10,000 entries, kept between requests and brought up to date
for what changed (issue 16).

Computing it afresh merges every entry's fires (~0.2 s of CPU cold, ~0.05-0.1 s with each
entry's fires cached by :class:`~beat.views.entries.FireCache`). But while every entry has
its run state for its current definition (*settled*), an entry's fires follow from its state
alone, not from the time asked; and the answer holds the first ``limit`` fires: so it stays
the same answer for a later, longer window, and when a beat fires some entries, only those
entries' fires change in it. Kept are the first ``2 * limit + 1`` fires (every fire up to the
last of them); a change of the run state swaps the changed entries' fires in that list, until
fewer than ``limit + 1`` are left (then it is computed afresh).

The fires are those the beat will send (:func:`beat.views.entries.fires_between`): none of a
disabled entry, none of a paused one (``beat pause``) until it is resumed, then those after its
resume instant. A pause or resume is a change of the run state like a fire: the entry's fires
are swapped in the kept list. The paused entries are listed beside the fires.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from beat.config.model import Config
from beat.entries import Entry
from beat.pending import planned_state, sends
from beat.state_rows import EntryState, Pause
from beat.views.entries import FireCache, fires_between, local_iso

# A timeline that may depend on the time asked (not settled) is reused this long (the page
# polls every few seconds).
TIMELINE_REUSE = timedelta(seconds=5)

Fire = tuple[datetime, str]  # (instant, entry name), in time order


class _Asked(NamedTuple):
    config: Config
    hours: int
    limit: int

    def same(self, other: _Asked) -> bool:
        """The same question (the same configuration object: comparing 10,000 entries
        would cost what is saved)."""
        return self.config is other.config and self[1:] == other[1:]


@dataclass(frozen=True)
class _Kept:
    asked: _Asked
    states: Mapping[str, EntryState]
    pauses: Mapping[str, Pause]
    at: datetime  # asked at
    # The first fires, more than limit when cut (fewer: every fire in the window): every fire
    # up to the last of them.
    taken: list[Fire]
    settled: bool
    answer: dict[str, Any]


def settled(entry: Entry, state: EntryState | None, pause: Pause | None) -> bool:
    """Whether ``entry``'s fires follow from ``state`` and ``pause`` alone: an entry the beat
    sends no fires of (disabled, paused), or one whose run state is there for its current
    definition (:func:`beat.planner.first_state` keeps it; a new or edited entry starts
    "now")."""
    if not sends(entry, pause):
        return True
    return state is not None and state.content_hash == entry.content_hash()


class Timeline:
    """Every fire the beat will send in the next ``hours``, at most ``limit``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fires = FireCache()
        self._kept: _Kept | None = None

    def answer(
        self, config: Config, states: Mapping[str, EntryState], pauses: Mapping[str, Pause],
        now: datetime, hours: int, limit: int,
    ) -> dict[str, Any]:  # fmt: skip
        asked = _Asked(config, hours, limit)
        with self._lock:
            kept = self._kept
            if kept is not None and kept.asked.same(asked) and now >= kept.at:
                cut = kept.settled and len(kept.taken) > limit
                same = kept.states is states and kept.pauses is pauses
                if same and (cut or now - kept.at < TIMELINE_REUSE):
                    return {**kept.answer, **_window(now, hours)}
                taken = self._patched(kept, states, pauses, now) if cut else None
                if taken is not None:
                    return self._keep(asked, states, pauses, now, taken, True)
            end = now + timedelta(hours=hours)
            # Twice what is shown: room for the fires a beat sends before the next full one.
            fires, _ = fires_between(config.entries, states, pauses, now, end,
                                     limit=2 * limit + 1, cache=self._fires)  # fmt: skip
            calm = all(settled(e, states.get(n), pauses.get(n)) for n, e in config.entries.items())
            return self._keep(asked, states, pauses, now, fires, calm)

    def _patched(
        self, kept: _Kept, states: Mapping[str, EntryState], pauses: Mapping[str, Pause],
        now: datetime,
    ) -> list[Fire] | None:  # fmt: skip
        """The kept fires with those of the entries whose state or pause changed recomputed;
        None when that cannot give the answer (a changed entry is not settled, or fewer fires
        are left than the answer needs)."""
        entries = kept.asked.config.entries
        changed = _changed(kept.states, states) | _changed(kept.pauses, pauses)
        bound = kept.taken[-1]
        taken = [fire for fire in kept.taken if fire[1] not in changed]
        for name in changed:
            entry, state, pause = entries.get(name), states.get(name), pauses.get(name)
            if entry is None or not sends(entry, pause):
                continue
            if not settled(entry, state, pause):
                return None
            held = planned_state(entry, state, pause, now)
            for fire in self._fires.fires(entry, held).until(bound[0]):
                if fire <= bound:
                    bisect.insort(taken, fire)
        return taken if len(taken) > kept.asked.limit else None

    def _keep(
        self, asked: _Asked, states: Mapping[str, EntryState], pauses: Mapping[str, Pause],
        now: datetime, taken: list[Fire], calm: bool,
    ) -> dict[str, Any]:  # fmt: skip
        entries, limit = asked.config.entries, asked.limit
        fires = [
            {
                "utc": at.astimezone(UTC).isoformat(),
                "at": local_iso(at, entries[name]),
                "entry": name,
            }
            for at, name in taken[:limit]
        ]
        # The entries that would fire but are paused: none of their fires is shown.
        paused = [
            {"entry": name, "since": p.since.isoformat(), "note": p.note}
            for name, p in sorted(pauses.items())
            if p.paused and name in entries and entries[name].enabled
        ]
        answer = {
            **_window(now, asked.hours), "fires": fires, "more": len(taken) > limit,
            "paused": paused,
        }  # fmt: skip
        self._kept = _Kept(asked, states, pauses, now, taken, calm, answer)
        return answer


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    """The names whose value differs between ``old`` and ``new`` (added or removed too)."""
    return {n for n, v in new.items() if old.get(n) != v} | (old.keys() - new.keys())


def _window(now: datetime, hours: int) -> dict[str, str]:
    """The timeline's window: from now, ``hours`` long."""
    end = now + timedelta(hours=hours)
    return {"start": now.astimezone(UTC).isoformat(), "end": end.astimezone(UTC).isoformat()}
