"""The overlap policy (``overlap: skip | buffer_one``): what a fire does while the previous fire
of its entry is still queued, running or retrying.

The leader decides from the broker's task state of the previous fire's id, read for every
gated entry of a round in one pipelined call (``TaskStates.get_statuses``), never from what it
remembers of the task: so the answer is right with several beats, after a restart, and when the
worker running the previous fire dies (its lease returns the message to the queue or, after
its last delivery, makes it DEAD). Which id was sent last, and which fire waits
(``buffer_one``), comes from the fire log of the run state at start-up and takeover
(:meth:`beat.state.StateStore.overlap_memory`) and is kept current as fires are sent. Fires
sent by ``beat backfill`` (another process) are read from the fire log every tick
(:meth:`OverlapGate.follow_backfills`) and waited on alike.

A gated fire whose predecessor may still be queued or running is decided at its instant, not
ahead of it (lookahead): planned early, it would find its predecessor still queued.
:meth:`OverlapGate.admit` holds such fires until then; the others (no predecessor, or one whose
task state is final) are enqueued ahead like ``allow`` fires.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from beat.entries import Entry, Overlap
from beat.planner import Fire, RoundPlan, Skipped
from beat.state_log import FireRecord
from taskqueue.errors import BrokerError
from taskqueue.records import TaskState, TaskStatus

# A fire in one of these states still occupies its entry: waiting, running or retrying.
ACTIVE = frozenset({TaskState.QUEUED, TaskState.STARTED, TaskState.RETRY, TaskState.PROGRESS})
BUFFERED = "buffered"  # the fire log outcome of a fire that waits (buffer_one)
WAITING_ON = "waiting on "

StatusReader = Callable[[Sequence[str]], Mapping[str, TaskStatus | None]]
# Reads the fire log's backfilled fires logged at or after an instant.
BackfillReader = Callable[[datetime], Sequence[FireRecord]]
# Backfilled fires are read again this far back from the newest seen: a backfill on a host
# whose clock is behind, or committed after a later one, is still found.
BACKFILL_MARGIN = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Buffered:
    """The one fire of a ``buffer_one`` entry that waits for ``waits_on`` to end."""

    fire: Fire
    waits_on: str


def _active(status: TaskStatus | None) -> bool:
    """Whether a fire with this task state still occupies its entry (None: never sent, or
    forgotten long after it ended; a sent message reads QUEUED until a worker records more)."""
    return status is not None and status.state in ACTIVE


def waiting_reason(overlap: Overlap, waits_on: str) -> str:
    return f"overlap {overlap.value}: {WAITING_ON}{waits_on}"


def waited_on(reason: str) -> str:
    """The id a fire log reason written by :func:`waiting_reason` names."""
    return reason.rpartition(WAITING_ON)[2]


class OverlapGate:
    """The leader's overlap decisions; entries with ``overlap: allow`` never pass through."""

    def __init__(self) -> None:
        self.last_sent: dict[str, str] = {}
        self.buffered: dict[str, Buffered] = {}
        # The held fires, at most one per entry (its next fire: the entry is off the index
        # meanwhile); ``_held`` is their heap, whose items no longer in ``_held_at`` are
        # superseded (dropped lazily).
        self._held: list[tuple[datetime, str]] = []
        self._held_at: dict[str, datetime] = {}
        # Fires `beat backfill` sent (another process: known from the fire log), until they
        # are seen ended; and the backfilled ids already read, by when they were logged.
        self.backfilled: dict[str, set[str]] = {}
        self._backfills_seen: dict[str, datetime] = {}
        # What the round being pushed changed in ``buffered``: the waiting fires it took out
        # and the entries whose fire it made wait; undone if the push fails (restore).
        self._taken: dict[str, Buffered] = {}
        self._added: set[str] = set()

    def load(self, last_sent: Mapping[str, str], buffered: Mapping[str, Buffered]) -> None:
        """What the run state says (start-up, takeover): the last id sent, the fire waiting."""
        self.last_sent = dict(last_sent)
        self.buffered = dict(buffered)
        self._held.clear()
        self._held_at.clear()
        self.backfilled.clear()
        self._backfills_seen.clear()  # read every backfilled fire again (follow_backfills)
        self._taken.clear()
        self._added.clear()

    def follow_backfills(self, read: BackfillReader, entries: Mapping[str, Entry]) -> None:
        """Learn of the fires ``beat backfill`` sent for gated entries since the last call (one
        indexed read of the fire log): the gate waits on them as on its own."""
        seen = self._backfills_seen
        since = max(seen.values()) - BACKFILL_MARGIN if seen else _EPOCH
        for record in read(since):
            if record.fire_id in seen:
                continue
            seen[record.fire_id] = record.at or since
            entry = entries.get(record.entry)
            if entry is not None and entry.overlap is not Overlap.ALLOW:
                self.backfilled.setdefault(record.entry, set()).add(record.fire_id)
        if seen:
            oldest = max(seen.values()) - 2 * BACKFILL_MARGIN
            self._backfills_seen = {i: at for i, at in seen.items() if at >= oldest}

    # --- decided at the instant ---------------------------------------------------------
    def admit(
        self,
        due: list[tuple[str, datetime]],
        entries: Mapping[str, Entry],
        now: datetime,
        read: StatusReader,
    ) -> list[tuple[str, datetime]]:
        """``due`` without the gated fires still ahead of ``now`` whose entry's previous fire
        may still be queued or running: those are held until their instant. A fire whose entry
        sent none (that this gate knows of) or whose previous fire is over (one pipelined read
        of those ids; a state only reaches a final one) is decided now, like an ``allow`` fire,
        so it is enqueued ahead (lookahead). The broker unreachable: all are held.

        An entry in ``due`` that still has a fire held was indexed again meanwhile (edited,
        resumed): that held fire is stale (the index holds its truth) and is dropped here, not
        left to be released later and planned against (or after) the one decided now."""
        out: list[tuple[str, datetime]] = []
        ahead: list[tuple[str, datetime]] = []
        held_at = self._held_at
        for name, when in due:
            if held_at:
                held_at.pop(name, None)
            entry = entries.get(name)
            if when <= now or entry is None or entry.overlap is Overlap.ALLOW:
                out.append((name, when))
            elif name in self.buffered or name in self.backfilled or name in self._taken:
                self._hold(name, when)
            else:
                ahead.append((name, when))
        ids = sorted({self.last_sent[n] for n, _ in ahead if n in self.last_sent})
        try:
            statuses = read(ids) if ids else {}
        except BrokerError:
            statuses = None
        for name, when in ahead:
            prev = self.last_sent.get(name)
            if prev is not None and (statuses is None or _active(statuses.get(prev))):
                self._hold(name, when)
            else:
                self.last_sent.pop(name, None)  # over: nothing to read again when planned
                out.append((name, when))
        return out

    def _hold(self, name: str, when: datetime) -> None:
        self._held_at[name] = when
        heapq.heappush(self._held, (when, name))

    def release(self, now: datetime, stale: Callable[[str], bool]) -> list[tuple[str, datetime]]:
        """The held fires due at ``now``; one whose entry was indexed again meanwhile (edited)
        or paused is ``stale`` and dropped: the index holds its truth. Called before the index
        is popped, so that an entry indexed again is still seen there."""
        out = []
        while self._held and self._held[0][0] <= now:
            when, name = heapq.heappop(self._held)
            if self._held_at.get(name) != when:
                continue  # superseded: dropped by admit
            del self._held_at[name]
            if not stale(name):
                out.append((name, when))
        return out

    def next_held(self) -> datetime | None:
        while self._held and self._held_at.get(self._held[0][1]) != self._held[0][0]:
            heapq.heappop(self._held)  # superseded
        return self._held[0][0] if self._held else None

    # --- the decision -------------------------------------------------------------------
    def apply(
        self, plan: RoundPlan, entries: Mapping[str, Entry], read: StatusReader, now: datetime
    ) -> list[FireRecord]:
        """Filter ``plan.fires`` by overlap (skipped ones join ``plan.skipped``); released
        buffered fires join ``plan.fires``. The fire log lines of the fires that now wait."""
        gated: dict[str, list[Fire]] = {}
        kept: list[Fire] = []
        for fire in plan.fires:
            entry = entries[fire.entry]
            if entry.overlap is Overlap.ALLOW:
                kept.append(fire)
            else:
                gated.setdefault(fire.entry, []).append(fire)
        if not gated and not self.buffered:
            return []
        ids = {self.last_sent[n] for n in gated if n in self.last_sent}
        ids.update(b.waits_on for b in self.buffered.values())
        backfilled = {i for n in gated for i in self.backfilled.get(n, ())}
        statuses = read(sorted(ids | backfilled)) if ids or backfilled else {}

        def active(task_id: str | None) -> bool:
            return _active(statuses.get(task_id) if task_id is not None else None)

        self._forget_ended_backfills(backfilled, active)
        running = self._release_buffered(plan, entries, kept, active, now)
        lines: list[FireRecord] = []
        for name, fires in gated.items():
            entry = entries[name]
            prev = running.get(name)
            if prev is None and name in self.buffered:
                prev = self.buffered[name].waits_on
            if prev is None and active(self.last_sent.get(name)):
                prev = self.last_sent[name]
            if prev is None and name in self.backfilled:
                prev = min(self.backfilled[name])
            for fire in fires:
                if prev is None:
                    kept.append(fire)
                    prev = fire.id
                elif entry.overlap is Overlap.BUFFER_ONE and name not in self.buffered:
                    self.buffered[name] = Buffered(fire, prev)
                    self._added.add(name)
                    reason = waiting_reason(entry.overlap, prev)
                    lines.append(FireRecord(name, fire.scheduled_for, fire.id, BUFFERED, reason))
                else:
                    at = fire.scheduled_for
                    reason = waiting_reason(entry.overlap, prev)
                    plan.skipped.append(Skipped(name, 1, at, at, reason))
        plan.fires = kept
        return lines

    def _forget_ended_backfills(self, read: set[str], active: Callable[[str], bool]) -> None:
        """Drop the backfilled fires among ``read`` that are no longer queued or running."""
        for name in [n for n, ids in self.backfilled.items() if ids & read]:
            ids = {i for i in self.backfilled[name] if i not in read or active(i)}
            if ids:
                self.backfilled[name] = ids
            else:
                del self.backfilled[name]

    def _release_buffered(
        self,
        plan: RoundPlan,
        entries: Mapping[str, Entry],
        kept: list[Fire],
        active: Callable[[str | None], bool],
        now: datetime,
    ) -> dict[str, str]:
        """Send the buffered fires whose predecessor ended, within their grace; the ids sent."""
        sent: dict[str, str] = {}
        for name, waiting in list(self.buffered.items()):
            if active(waiting.waits_on):
                continue
            self._taken[name] = self.buffered.pop(name)
            entry = entries.get(name)
            if entry is None or not entry.enabled or entry.overlap is not Overlap.BUFFER_ONE:
                continue
            at = waiting.fire.scheduled_for
            if now - at <= entry.grace:
                kept.append(waiting.fire)
                sent[name] = waiting.fire.id
            else:
                reason = f"overlap buffer_one: {waiting.waits_on} ended after this fire's grace"
                plan.skipped.append(Skipped(name, 1, at, at, reason))
        return sent

    def restore(self) -> None:
        """The round's push failed: the waiting fires it released (or dropped) wait again, to
        be decided anew by the next round (re-planning repeats only what the broker refuses);
        the fires it made wait are planned again too, so they no longer wait."""
        for name in self._added:
            self.buffered.pop(name, None)
        self.buffered.update(self._taken)
        self._taken.clear()
        self._added.clear()

    def sent(self, fires: Sequence[Fire], entries: Mapping[str, Entry]) -> None:
        """``fires`` are in the broker (sent or refused as duplicates): the last of each gated
        entry is the one its next fire waits for."""
        self._taken.clear()
        self._added.clear()
        for fire in fires:
            entry = entries.get(fire.entry)
            if entry is not None and entry.overlap is not Overlap.ALLOW:
                self.last_sent[fire.entry] = fire.id
