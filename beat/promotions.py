"""Make fires pushed ahead claimable at their instant: beat promotes them itself.

With a lookahead, a fire is pushed before its instant with the instant as its eta, so it waits
in the broker's delayed set. A worker's claim moves due messages to ready a step (1,000) at a
time, so a burst's tail would wait on workers' claims. Instead, the beat that pushed them asks
the broker to promote the queue at each instant it pushed for (:meth:`Producer.promote_due`,
every due message of the queue, in large atomic chunks), also in the middle of a long push.

Nothing depends on it for correctness: if beat dies between the push and the instant, or the
call fails, workers' claims promote the messages as before (logged, not lost).

An eta becomes the broker's "due" as a delay from the moment the push was packed, so a message
can come due a few ms after the instant it was meant for. A promotion that leaves something
due shortly after (``FOLLOW_UP``) looks again then, a few times at most.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from taskqueue.errors import BrokerError
from taskqueue.records import EncodedMessage, Promoted

log = logging.getLogger(__name__)

# Promotion instants are rounded up to this grid, so jittered fires (each with its own
# instant) share a call per 10 ms instead of one call each.
GRID = timedelta(milliseconds=10)
# A promotion that finds the queue's next delayed message due within this long looks again
# then (the push's own lag), at most FOLLOW_UPS times after the instant.
FOLLOW_UP = timedelta(seconds=1)
FOLLOW_UPS = 3


def on_grid(at: datetime) -> datetime:
    """``at`` rounded up to the next GRID step (unchanged if on it)."""
    grid_us = GRID // timedelta(microseconds=1)
    over = (at.second * 1_000_000 + at.microsecond) % grid_us
    return at if over == 0 else at + timedelta(microseconds=grid_us - over)


class Promotions:
    """The (instant, queue) pairs still to promote, earliest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, int]] = []  # (at, queue, follow-ups so far)
        self._pending: set[tuple[datetime, str]] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def expect(self, items: Iterable[EncodedMessage]) -> None:
        """Promote the queues of ``items`` that carry an eta at (just after) that eta."""
        for at, queue in {(i.eta, i.queue) for i in items if i.eta is not None}:
            self._add(on_grid(at), queue, 0)

    def _add(self, at: datetime, queue: str, round_no: int) -> None:
        if (at, queue) not in self._pending:
            self._pending.add((at, queue))
            heapq.heappush(self._heap, (at, queue, round_no))

    def next_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: datetime, promote: Callable[[str], Promoted]) -> int:
        """Promote every queue whose instant has come (once per queue); how many messages
        moved. A failed call is logged and left to workers' claims."""
        due: dict[str, int] = {}
        while self._heap and self._heap[0][0] <= now:
            at, queue, round_no = heapq.heappop(self._heap)
            self._pending.discard((at, queue))
            due[queue] = min(round_no, due.get(queue, round_no))
        moved = 0
        for queue, round_no in due.items():
            try:
                done = promote(queue)
            except BrokerError as e:
                log.warning(
                    "queue %s: cannot promote the fires due now (workers' claims will): %s",
                    queue,
                    e,
                    extra={"queue": queue},
                )
                continue
            moved += done.moved
            wait = done.next_due_in
            if wait is not None and wait <= FOLLOW_UP and round_no < FOLLOW_UPS:
                self._add(on_grid(now + wait), queue, round_no + 1)
        return moved
