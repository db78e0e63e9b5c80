"""Make fires pushed ahead claimable at their instant: beat promotes them itself.

With a lookahead, a fire is pushed before its instant with the instant as its eta, so it waits
in the broker's delayed set (a large burst, longer: :mod:`beat.early_push`). A worker's claim
moves due messages to ready a step (1,000) at a time, so a burst's tail would wait on workers'
claims. Instead, the beat that pushed them asks
the broker to promote the queue at each instant it pushed for (:meth:`Producer.promote_due`,
every due message of the queue, in large atomic chunks), also in the middle of a long push.

Nothing depends on it for correctness: if beat dies between the push and the instant, or the
call fails, workers' claims promote the messages as before (logged, not lost).

The promotions run on their own thread (:class:`Promoter`): the loop that pushes is busy for
seconds after a large burst (recording it, logging each fire), and an instant must not wait
for that. The loop also promotes what is due between a push's batches and at each tick, so a
beat driven tick by tick (tests) promotes too; whichever pops an instant first calls it.

An eta becomes the broker's "due" as a delay from the moment the push was packed, so a message
can come due a few ms after the instant it was meant for, and under load each batch of a burst
with its own lag. A promotion that leaves something due shortly after looks again then, as
long as that is within ``FOLLOW_UP`` of the instant: a fixed number of looks (it was 3) left
the later batches of a burst to workers' claims when each look caught one batch.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from taskqueue.errors import BrokerError
from taskqueue.records import EncodedMessage, Promoted

log = logging.getLogger(__name__)

# Promotion instants are rounded up to this grid, so jittered fires (each with its own
# instant) share a call per 10 ms instead of one call each.
GRID = timedelta(milliseconds=10)
# A promotion that finds the queue's next delayed message due by this long after the instant
# it promoted for looks again then (the push's own lag); later than that is workers' to claim.
# Each look is at least a GRID step after the last, so a chain is at most 100 calls.
FOLLOW_UP = timedelta(seconds=1)


def on_grid(at: datetime) -> datetime:
    """``at`` rounded up to the next GRID step (unchanged if on it)."""
    grid_us = GRID // timedelta(microseconds=1)
    over = (at.second * 1_000_000 + at.microsecond) % grid_us
    return at if over == 0 else at + timedelta(microseconds=grid_us - over)


class Promotions:
    """The (instant, queue) pairs still to promote, earliest first."""

    def __init__(self) -> None:
        # (at, queue, the instant its chain of looks promotes for)
        self._heap: list[tuple[datetime, str, datetime]] = []
        self._pending: set[tuple[datetime, str]] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def expect(self, items: Iterable[EncodedMessage]) -> None:
        """Promote the queues of ``items`` that carry an eta at (just after) that eta."""
        for at, queue in {(i.eta, i.queue) for i in items if i.eta is not None}:
            self._add(on_grid(at), queue, on_grid(at))

    def _add(self, at: datetime, queue: str, instant: datetime) -> None:
        if (at, queue) not in self._pending:
            self._pending.add((at, queue))
            heapq.heappush(self._heap, (at, queue, instant))

    def next_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> dict[str, datetime]:
        """The queues whose instant has come (each once), with the latest instant they are
        promoted for."""
        due: dict[str, datetime] = {}
        while self._heap and self._heap[0][0] <= now:
            at, queue, instant = heapq.heappop(self._heap)
            self._pending.discard((at, queue))
            due[queue] = max(instant, due.get(queue, instant))
        return due

    def promoted(self, queue: str, instant: datetime, done: Promoted, now: datetime) -> None:
        """Look again when the queue's next delayed message is due, if that is within
        FOLLOW_UP of ``instant``; at least a GRID step after ``now`` (a remainder rounded to
        0 ms must not loop)."""
        wait = done.next_due_in
        if wait is None:
            return
        again = on_grid(now + max(wait, GRID))
        if again <= instant + FOLLOW_UP:
            self._add(again, queue, instant)

    def run_due(self, now: datetime, promote: Callable[[str], Promoted]) -> int:
        """Promote every queue whose instant has come (once per queue); how many messages
        moved. A failed call is logged and left to workers' claims."""
        moved = 0
        for queue, instant in self.pop_due(now).items():
            done = _promote(promote, queue)
            if done is not None:
                moved += done.moved
                self.promoted(queue, instant, done, now)
        return moved


def _promote(promote: Callable[[str], Promoted], queue: str) -> Promoted | None:
    try:
        return promote(queue)
    except BrokerError as e:
        log.warning(
            "queue %s: cannot promote the fires due now (workers' claims will): %s",
            queue,
            e,
            extra={"queue": queue},
        )
        return None


class Promoter:
    """:class:`Promotions` shared by the loop (which adds them) and a thread that runs them at
    their instant; :meth:`run_due` may also be called from the loop."""

    def __init__(self, promote: Callable[[str], Promoted], clock: Callable[[], datetime]) -> None:
        self._promote = promote
        self._clock = clock
        self._schedule = Promotions()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def expect(self, items: Iterable[EncodedMessage]) -> None:
        with self._lock:
            self._schedule.expect(items)
        self._wake.set()  # the thread re-reads the earliest instant

    def next_at(self) -> datetime | None:
        with self._lock:
            return self._schedule.next_at()

    def run_due(self) -> int:
        """Promote what is due now; how many messages moved."""
        now = self._clock()
        with self._lock:
            due = self._schedule.pop_due(now)
        moved = 0
        for queue, instant in due.items():  # the broker calls without the lock
            done = _promote(self._promote, queue)
            if done is not None:
                moved += done.moved
                with self._lock:
                    self._schedule.promoted(queue, instant, done, now)
        return moved

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="beat-promoter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            at = self.next_at()
            wait = 1.0 if at is None else (at - self._clock()).total_seconds()
            if wait > 0:
                if self._wake.wait(min(wait, 1.0)):
                    self._wake.clear()
                continue
            try:
                self.run_due()
            except Exception:  # the thread must live on: workers' claims promote meanwhile
                log.exception("promoting the fires due now failed")
