"""Claim-ahead: a few deliveries claimed before a pool slot is free, while tasks are short.

Without it, each pool slot that frees waits one broker round trip (settle what finished, claim
the next) before it runs anything: for short tasks the pool sits idle for most of each loop.
With it, the loop starts a held delivery the moment a slot frees and settles and claims while
the pool runs it.

Bounds, so that nothing about delivery changes but when a claimed message starts:

- only while tasks are short: after ``concurrency * 4`` outcomes that each ran under
  ``SHORT_TASK`` (a longer one halves the count; two in a row stop it; what is held is
  still started or released);
- at most four times ``concurrency`` deliveries held at once;
- held at most ``HOLD_MAX`` (and at most a quarter of the lease): then released back to the
  head of ready (state QUEUED, the delivery not counted), for any worker to take.

A held delivery is claimed like any other: it has a lease the lease keeper renews (it is in
the in-flight table), the broker recorded it STARTED with the claim (so it may read STARTED up
to ``HOLD_MAX`` before it runs), a worker dying while holding it loses nothing (the lease runs
out and another worker takes it, as with a running one), a revoke with terminate stops it
before it runs (REVOKED), and a stop releases it (it never started).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime, timedelta

from worker.consumer.in_flight import InFlight
from worker.consumer.outcomes import Pending
from worker.consumer.start import Starter
from worker.pool import Job, Outcome, OutcomeKind

logger = logging.getLogger(__name__)

# A task that ran under this long counts as short.
SHORT_TASK = timedelta(milliseconds=10)
# The longest a delivery waits, claimed, for a slot before it goes back to the queue.
HOLD_MAX = timedelta(milliseconds=200)


class ClaimAhead:
    """Deliveries claimed ahead (job and in-flight entry, oldest first), and whether to."""

    def __init__(self, concurrency: int, lease: timedelta) -> None:
        # Four times the concurrency (Celery's default prefetch): outcomes refill every slot
        # from the hold for three turns before one round trip settles them all and refills
        # it (Consumer._settle_later). Measured (bench/profile_worker.py, -c 2): twice the
        # concurrency settled 4 per script call, this 8; parent CPU per task 149 -> 132 µs.
        self.limit = 4 * max(1, concurrency)
        self._streak_needed = 4 * max(1, concurrency)
        self._hold_max_s = min(HOLD_MAX, lease / 4).total_seconds()
        self._short_s = SHORT_TASK.total_seconds()
        self._short_streak = 0
        self._held: deque[tuple[Job, InFlight, float]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def observe(self, outcomes: list[Outcome]) -> None:
        """Count the outcomes' runtimes: a long one stops claiming ahead."""
        for outcome in outcomes:
            started, finished = outcome.started_at, outcome.finished_at
            if started is None or finished is None:
                continue
            if (finished - started).total_seconds() < self._short_s:
                self._short_streak = min(self._short_streak + 1, 2 * self._streak_needed)
            else:
                # Halved, not reset: on a loaded machine a no-op preempted mid-run now and
                # then takes over 10 ms, and must not turn claim-ahead off (measured: the
                # -c 2 prefork rate swung 1,550-2,700/s); two long ones in a row do.
                self._short_streak //= 2

    def wanted(self) -> int:
        """How many more to claim ahead now (0 unless tasks are short)."""
        if self._short_streak < self._streak_needed:
            return 0
        return self.limit - len(self._held)

    def hold(self, job: Job, entry: InFlight) -> None:
        self._held.append((job, entry, time.monotonic()))

    def take(self, count: int) -> list[tuple[Job, InFlight]]:
        """Up to ``count`` held deliveries, oldest first, to start now."""
        taken: list[tuple[Job, InFlight]] = []
        while self._held and len(taken) < count:
            job, entry, _ = self._held.popleft()
            taken.append((job, entry))
        return taken

    def start(self, free: int, starter: Starter) -> list[Pending]:
        """Start up to ``free`` held deliveries, oldest first; how to settle those that
        expired while held. One whose lease was lost meanwhile is not ours: dropped."""
        refused: list[Pending] = []
        for job, entry in self.take(free):
            if entry.lost:
                starter.forget(job.id)
                logger.warning(
                    "task %s[%s]: lease lost before it started", job.task.name, job.task_id
                )
            elif (pending := starter.run_held(job, entry)) is not None:
                refused.append(pending)
        return refused

    def overdue(self) -> list[tuple[Job, InFlight]]:
        """The held deliveries that waited longer than the bound (removed from the hold)."""
        limit_s = time.monotonic() - self._hold_max_s
        late: list[tuple[Job, InFlight]] = []
        while self._held and self._held[0][2] <= limit_s:
            job, entry, _ = self._held.popleft()
            late.append((job, entry))
        return late

    def revoke(self, job_id: str, now: datetime) -> Outcome | None:
        """Take held ``job_id`` out of the hold (revoked with terminate before it started):
        its outcome, REVOKED without running; None if it is not held."""
        for i, (job, _, _) in enumerate(self._held):
            if job.id == job_id:
                del self._held[i]
                kind = OutcomeKind.REVOKED
                return Outcome(job_id, kind, error="revoked", started_at=now, finished_at=now)
        return None

    def take_all(self) -> list[tuple[Job, InFlight]]:
        return self.take(len(self._held))
