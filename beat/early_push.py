"""How far ahead of its instant a burst is pushed: the lookahead, or longer for a large one.

A fire is pushed up to ``lookahead`` (default 3 s) before its instant, as a delayed message, and
beat promotes it to ready at the instant (:mod:`beat.promotions`). Pushing 1,000,000 fires
takes about 12 s on two cores, so with a 3 s lookahead most of such a burst landed well after
its instant (issue 17: all ready 13.7 s after it). A large burst therefore starts earlier:
its *lead* is its push time at a conservative push rate, doubled (planning it, recording the
previous burst, a loaded machine), capped::

    lead(n) = max(lookahead, min(MAX_LEAD, n / rate * MARGIN))

``n`` counts the fires of every indexed instant up to and including the burst's (they are
pushed in the same dispatch, first). ``rate`` is the slower of ASSUMED_RATE and the rate the
last large push measured, so a loaded machine starts earlier. At the default rate a burst
of fewer than 120,000 fires fits the default 3 s lookahead, and is pushed exactly as before
(1,000,000: 25 s ahead).

Only how early a fire is pushed changes; what happens to a fire pushed ahead is what the
lookahead already does: a pause revokes it (:mod:`beat.pause_ahead`), an edit or a disable
made after its push does not affect it, a gated fire (:mod:`beat.overlap`) whose previous fire
may still run is held until its instant, and the fire is recorded (state, fire log) when its
push ends, so a restart neither repeats nor loses it. With ``lookahead: 0`` nothing is pushed
ahead, large bursts included.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

# Fires per second assumed for a push until one large push has been measured, and never
# exceeded by a measurement: 1,000,000 fires pushed in 11.6 s measured 86,000/s (issue 17).
ASSUMED_RATE = 80_000.0
# A measurement this low is a stall (a paused process), not a rate: the lead is capped anyway.
MIN_RATE = 1_000.0
# Pushes of fewer fires are not measured (fixed costs dominate them).
MEASURE_MIN = 10_000
MARGIN = 2.0
# Never earlier than this: an edit made within the lead does not affect the burst.
MAX_LEAD = timedelta(seconds=60)
# Indexed instants looked at per decision (a few small ones may precede a burst).
LOOK = 16


class Upcoming(Protocol):
    """What this needs of :class:`beat.due_index.DueIndex`."""

    def __len__(self) -> int: ...
    def peek(self) -> datetime | None: ...
    def upcoming(self, limit: int) -> list[tuple[datetime, int]]: ...


class EarlyPush:
    """The instants to push now, and when to look again."""

    def __init__(self, lookahead: timedelta) -> None:
        self.lookahead = lookahead
        self.rate = ASSUMED_RATE

    def lead(self, fires: int) -> timedelta:
        """How long before its instant a push that ends with a burst of ``fires`` starts."""
        if not self.lookahead:
            return self.lookahead
        need = timedelta(seconds=fires / self.rate * MARGIN)
        return max(self.lookahead, min(need, MAX_LEAD))

    def measured(self, fires: int, push_s: float) -> None:
        """A push of ``fires`` took ``push_s`` seconds."""
        if fires >= MEASURE_MIN and push_s > 0:
            self.rate = max(MIN_RATE, min(ASSUMED_RATE, fires / push_s))

    def plan(self, index: Upcoming, now: datetime) -> tuple[datetime, datetime | None]:
        """(the instant to push up to now, the earliest instant a push may start: at or before
        ``now`` if one is due, None if nothing is indexed). Most calls end at the first test:
        even every indexed entry due at the first instant would not need pushing yet."""
        top = index.peek()
        horizon = now + self.lookahead
        if top is None:
            return horizon, None
        most = self.lead(len(index))
        if top - most > now:
            return horizon, top - most
        wake: datetime | None = None  # the earliest start: now or before if one is due
        fires = 0
        looked = index.upcoming(LOOK)
        for when, live in looked:
            fires += live
            start = when - self.lead(fires)
            if start <= now:
                horizon = max(horizon, when)
            if wake is None or start < wake:
                wake = start
        if len(looked) == LOOK and looked[-1][0] - most > now:
            # The instants not looked at come later, with at most every entry before them.
            last = looked[-1][0] - most
            wake = last if wake is None else min(wake, last)
        return horizon, wake
