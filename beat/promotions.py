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
can come due a few ms after the instant it was meant for. A promotion that leaves something
due shortly after (``FOLLOW_UP``) looks again then, a few times at most.
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

    def pop_due(self, now: datetime) -> dict[str, int]:
        """The queues whose instant has come (each once), with their follow-ups so far."""
        due: dict[str, int] = {}
        while self._heap and self._heap[0][0] <= now:
            at, queue, round_no = heapq.heappop(self._heap)
            self._pending.discard((at, queue))
            due[queue] = min(round_no, due.get(queue, round_no))
        return due

    def promoted(self, queue: str, round_no: int, done: Promoted, now: datetime) -> None:
        """Look again shortly if the queue's next delayed message is due just after."""
        wait = done.next_due_in
        if wait is not None and wait <= FOLLOW_UP and round_no < FOLLOW_UPS:
            self._add(on_grid(now + wait), queue, round_no + 1)

    def run_due(self, now: datetime, promote: Callable[[str], Promoted]) -> int:
        """Promote every queue whose instant has come (once per queue); how many messages
        moved. A failed call is logged and left to workers' claims."""
        moved = 0
        for queue, round_no in self.pop_due(now).items():
            done = _promote(promote, queue)
            if done is not None:
                moved += done.moved
                self.promoted(queue, round_no, done, now)
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
        for queue, round_no in due.items():  # the broker calls without the lock
            done = _promote(self._promote, queue)
            if done is not None:
                moved += done.moved
                with self._lock:
                    self._schedule.promoted(queue, round_no, done, now)
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
