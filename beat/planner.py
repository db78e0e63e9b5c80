"""The pure planner: given an entry, its run state and "now", which fires to send and which to
skip. It never reads the clock, so every rule below is a table of instants in the tests.

Rules (SPEC 6):

- The next fire is the first scheduled instant strictly after a *boundary*: the entry's last
  scheduled fire disposed of (sent or skipped), else the instant it was first seen (a new entry
  never fires "immediately"), and never before the instant it was last edited. Never "now".
- Every scheduled instant ``f`` with ``boundary < f <= now`` is pending. It is on time if
  ``now - f <= grace`` (always sent) and missed otherwise; missed fires follow ``catch_up``:
  ``all`` sends the most recent 100 (CATCH_UP_ALL_LIMIT, like Kubernetes) and skips older ones,
  ``latest`` sends only the most recent missed fire and only if no on-time fire follows it,
  ``none`` skips them all. Each pending instant is sent or counted as skipped exactly once.

Work is bounded however long beat was down: intervals are planned arithmetically (an
``every: 1s`` entry down for a month costs the same as one down for a second, and its skip
count is exact). Other schedules have no arithmetic skip-ahead: the planner walks at most
WALK_LIMIT missed fires from the oldest, finds the newest ones by probing back from the cutoff
with doubling windows, and walks the gap between the two with a second budget. Only when that
gap holds more fires still is the count a lower bound (``Skipped.exact`` is False and the
reason says "at least"); which fires are sent is exact either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from beat.entries import CATCH_UP_ALL_LIMIT, CatchUp, Entry, Schedule

# An entry's pending fires from its state live apart from the plans' records: beat next
# imports only them (issue 17). Their names stay importable from here.
from beat.pending import boundary
from beat.pending import first_state as first_state
from beat.pending import next_pending as next_pending
from beat.pending import upcoming as upcoming
from beat.state_rows import EntryState
from beat.time.schedules import Interval
from taskqueue.message import fire_id

# Generic schedules: missed fires walked one by one from the oldest before jumping to the newest.
WALK_LIMIT = 1_000
# The first window probed back from the cutoff; it doubles until it holds enough fires.
_FIRST_PROBE = timedelta(seconds=1)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Fire:
    """One scheduled instant of one entry to send; ``id`` is its deterministic message id."""

    entry: str
    scheduled_for: datetime
    id: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """``count`` missed fires of ``entry`` from ``first`` to ``last`` that are not sent."""

    entry: str
    count: int
    first: datetime
    last: datetime
    reason: str
    exact: bool = True  # False: ``count`` is a lower bound (see the module docstring)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send now, what was skipped, and the first scheduled instant after ``now``
    (None: the schedule has no more fires)."""

    fires: tuple[Fire, ...]
    skipped: tuple[Skipped, ...]
    next_fire: datetime | None


@dataclass(slots=True)
class RoundPlan:
    """What one dispatch round does with the entries popped from the due index.

    ``advanced``: per entry, the last scheduled instant the round disposes of (sent or
    skipped). ``next_fires``: per entry, the next fire to index afterwards; None means "the
    fire after ``advanced[name]``", computed once the burst is in the broker.
    """

    fires: list[Fire] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    advanced: dict[str, datetime] = field(default_factory=dict)
    next_fires: dict[str, datetime | None] = field(default_factory=dict)


def plan_round(
    due: Sequence[tuple[str, datetime]],
    entries: Mapping[str, Entry],
    states: Mapping[str, EntryState],
    now: datetime,
) -> RoundPlan:
    """Plan the ``due`` (entry, indexed instant) pairs at ``now``: an indexed instant up to
    the tick's horizon is sent when on time, and an entry late past its grace has each pending
    fire sent or skipped per its catch-up policy. Entries gone or disabled since they were
    indexed are left out."""
    plan = RoundPlan()
    for name, when in due:
        entry = entries.get(name)
        if entry is None or not entry.enabled or name not in states:
            continue
        if now - when <= entry.grace:
            # The common case, kept cheap for large bursts: the indexed instant is the next
            # pending fire and it is on time, so it is the one fire to send (its state is not
            # read: the roster builds a state per read, beat.records).
            plan.fires.append(Fire(name, when, fire_id(name, when)))
            plan.advanced[name] = when
            plan.next_fires[name] = None
            continue
        # Judged at now, not at now + lookahead: a pending fire within its grace of now is on
        # time (SPEC 6) even when it is not within its grace of the horizon. The fires after
        # now come back through the index, in the next round if they fall before the horizon.
        _plan_late(plan, entry, states[name], now)
    return plan


def _plan_late(plan: RoundPlan, entry: Entry, state: EntryState, now: datetime) -> None:
    """An entry whose indexed fire is late: every pending fire, per its catch-up policy."""
    one = plan_entry(entry, state, now)
    plan.fires.extend(one.fires)
    plan.skipped.extend(one.skipped)
    last = one.fires[-1].scheduled_for if one.fires else None
    for skipped in one.skipped:
        if last is None or skipped.last > last:
            last = skipped.last
    if last is not None:
        plan.advanced[entry.name] = last
    if one.next_fire is not None:
        plan.next_fires[entry.name] = one.next_fire


def plan_entry(entry: Entry, state: EntryState, now: datetime) -> Plan:
    """Every pending fire of ``entry`` at ``now``: sent, or skipped per its catch-up policy."""
    schedule = entry.schedule
    after = boundary(state)
    if isinstance(schedule, Interval):
        start = state.first_seen if schedule.start is None else schedule.start
        return _plan_interval(entry, start, schedule.every, after, now)
    return _plan_walk(entry, schedule.anchored(state.first_seen), after, now)


# --- intervals: arithmetic on k in start + k * every --------------------------------------


def _plan_interval(
    entry: Entry, start: datetime, every: timedelta, after: datetime, now: datetime
) -> Plan:
    k_first = 0 if after < start else (after - start) // every + 1
    first = start + k_first * every
    if first > now:
        return Plan((), (), first)
    late = now - first
    if late < every and late <= entry.grace:
        # The hot path (every due entry, every tick): exactly one fire, on time.
        name = entry.name
        return Plan((Fire(name, first, fire_id(name, first)),), (), first + every)
    k_now = (now - start) // every  # the last k with start + k * every <= now (floor)
    next_fire = start + (k_now + 1) * every
    # The last k that is missed: start + k * every < now - grace.
    q, r = divmod(now - entry.grace - start, every)
    k_missed = min(q - 1 if not r else q, k_now)
    name = entry.name
    if k_missed < k_first:  # the common case: everything pending is on time
        return Plan(
            _fires(name, [start + k * every for k in range(k_first, k_now + 1)]), (), next_fire
        )
    n_missed = k_missed - k_first + 1
    tail_len = min(n_missed, _tail_needed(entry.catch_up))
    tail = [start + k * every for k in range(k_missed - tail_len + 1, k_missed + 1)]
    on_time = [start + k * every for k in range(k_missed + 1, k_now + 1)]
    return _decide(entry, start + k_first * every, n_missed, True, tail, on_time, next_fire)


# --- any other schedule: walk, then probe back from the cutoff ----------------------------


def _plan_walk(entry: Entry, schedule: Schedule, after: datetime, now: datetime) -> Plan:
    nxt = schedule.next_after
    first = nxt(after)
    if first is None or first > now:
        return Plan((), (), first)
    cutoff = now - entry.grace
    if first >= cutoff:  # the common case: everything pending is on time
        fires, after_now = _until(schedule, first, now)
        return Plan(_fires(entry.name, fires), (), after_now)

    keep = _tail_needed(entry.catch_up)
    tail: deque[datetime] = deque(maxlen=keep)
    n_missed = 0
    exact = True
    t: datetime | None = first
    while t is not None and t < cutoff and n_missed < WALK_LIMIT:
        tail.append(t)
        n_missed += 1
        t = nxt(t)
    if t is not None and t < cutoff:
        # Too many to walk: find the newest by probing back from the cutoff, then walk the gap
        # between the two with a second budget; if it is larger, the count is a lower bound.
        count, probed, window = _probe_tail(schedule, t, cutoff, keep)
        g: datetime | None = t
        while g is not None and g < window and count < 2 * WALK_LIMIT:
            count += 1
            g = nxt(g)
        exact = g is None or g >= window
        n_missed += count
        tail.extend(probed)  # when the probe reached t, the walked fires still matter
        t = nxt(tail[-1])
    on_time: list[datetime] = []
    next_fire = t
    if t is not None and t <= now:
        on_time, next_fire = _until(schedule, t, now)
    return _decide(entry, first, n_missed, exact, list(tail), on_time, next_fire)


def _until(
    schedule: Schedule, first: datetime, now: datetime
) -> tuple[list[datetime], datetime | None]:
    """Fires from ``first`` (a fire) up to ``now`` inclusive, and the fire after them."""
    out = [first]
    t = schedule.next_after(first)
    while t is not None and t <= now:
        out.append(t)
        t = schedule.next_after(t)
    return out, t


def _probe_tail(
    schedule: Schedule, lo: datetime, hi: datetime, keep: int
) -> tuple[int, deque[datetime], datetime]:
    """The last ``keep`` fires in ``[lo, hi)`` without visiting them all.

    Probes ``[hi - span, hi)`` with a doubling span until it holds ``keep`` fires or reaches
    ``lo``. Returns the number of fires in the last window, its last ``keep`` fires, and where
    the window starts (``lo`` when it covers all of ``[lo, hi)``).
    """
    span = _FIRST_PROBE
    while True:
        start = max(lo, hi - span)
        tail: deque[datetime] = deque(maxlen=keep)
        count = 0
        t = schedule.next_after(start - _ONE_US)
        while t is not None and t < hi:
            tail.append(t)
            count += 1
            t = schedule.next_after(t)
        if count >= keep or start == lo:
            return count, tail, start
        span *= 2


# --- the catch-up decision, shared -----------------------------------------------------------


def _tail_needed(policy: CatchUp) -> int:
    """How many of the most recent missed fires a policy needs to see: those it may send, plus
    one more to name the last skipped fire."""
    return CATCH_UP_ALL_LIMIT + 1 if policy is CatchUp.ALL else 2


def _decide(
    entry: Entry,
    first_missed: datetime,
    n_missed: int,
    exact: bool,
    tail: list[datetime],
    on_time: list[datetime],
    next_fire: datetime | None,
) -> Plan:
    """Apply ``entry.catch_up`` to ``n_missed`` missed fires (``tail``: the most recent ones,
    oldest first) followed by the ``on_time`` ones."""
    policy = entry.catch_up
    if policy is CatchUp.ALL:
        send = tail[-CATCH_UP_ALL_LIMIT:]
        reason = f"catch_up all is capped at {CATCH_UP_ALL_LIMIT}"
    elif policy is CatchUp.LATEST:
        send = [] if on_time else tail[-1:]
        reason = "catch_up latest"
    else:
        send = []
        reason = "catch_up none"
    n_skipped = n_missed - len(send)
    skipped: tuple[Skipped, ...] = ()
    if n_skipped > 0:
        last = tail[-len(send) - 1]
        if not exact:
            reason = f"{reason}; at least {n_skipped}: only some missed fires were counted"
        skipped = (Skipped(entry.name, n_skipped, first_missed, last, reason, exact),)
    return Plan(_fires(entry.name, send + on_time), skipped, next_fire)


def _fires(name: str, instants: list[datetime]) -> tuple[Fire, ...]:
    return tuple(Fire(name, f, fire_id(name, f)) for f in instants)
