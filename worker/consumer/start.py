"""Running a delivery: decode it, check that it may run, and submit its task to the pool.

The payload is decoded once, by :func:`taskqueue.message.decode_payload`. A claimed message
that cannot run (malformed queue entry, undecodable, delivered too often,
unknown task, expired, rate limited) is not run: :meth:`Starter.start` returns how to settle
it instead, with its true state.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from taskqueue.broker import Delivery, TaskState
from taskqueue.message import Message, Unreadable, decode_payload
from worker.consumer import outcomes
from worker.consumer.in_flight import ConsumerStats, InFlight, InFlightTable
from worker.consumer.outcomes import Pending
from worker.context import Request
from worker.errors import UnknownTask
from worker.pool import Job, Pool, resolve_limits
from worker.rate_limit import RateLimiter
from worker.registry import REGISTRY

_STARTED = TaskState.STARTED.value
# Job ids: unique among this process's jobs (the in-flight table and the pool key on them).
# A counter, not uuid4: os.urandom per task was a syscall and, on the threads pool, released
# the GIL mid-loop (bench/profile_worker.py).
_JOB_IDS = itertools.count(1)


class Starter:
    """Turns deliveries into jobs on ``pool``, recorded in ``in_flight``."""

    def __init__(
        self,
        pool: Pool,
        in_flight: InFlightTable,
        stats: ConsumerStats,
        *,
        clock: Callable[[], datetime],
        max_deliveries: int,
    ) -> None:
        self._pool = pool
        self._in_flight = in_flight
        self._stats = stats
        self._clock = clock
        self._max_deliveries = max_deliveries
        self._rate_limiter = RateLimiter()

    def start(self, delivery: Delivery) -> Pending | None:
        """Submit the delivery's task to the pool; or, if it cannot run, how to settle it."""
        prepared = self.prepare(delivery)
        if isinstance(prepared, Pending):
            return prepared
        self.run(*prepared)
        return None

    def prepare(self, delivery: Delivery) -> Pending | tuple[Job, InFlight]:
        """The job of a delivery, recorded in flight (not yet submitted: :meth:`run`); or, if
        it cannot run, how to settle it."""
        message = decode_payload(delivery.payload)
        if delivery.problem is not None:
            reason = f"malformed queue entry: {delivery.problem}"
            return self._dead_letter(delivery, reason, message)
        if isinstance(message, Unreadable):
            return self._dead_letter(delivery, f"undecodable: {message.reason}", message)
        if delivery.deliveries > self._max_deliveries:
            reason = (
                f"delivered {delivery.deliveries} times without an outcome "
                f"(worker.max_deliveries is {self._max_deliveries}): the worker or its pool "
                "process died under it each time"
            )
            return outcomes.dead_letter(delivery, reason, message, self._clock())
        try:
            task = REGISTRY.get(message.task)
        except UnknownTask:
            reason = f"unknown task {message.task!r}"
            return outcomes.dead_letter(delivery, reason, message, self._clock())
        now = self._clock()
        if message.is_expired(now):
            return outcomes.expired(delivery, message, now)
        wait = self._rate_limiter.acquire(
            task.name, getattr(task, "rate_limit", None), time.monotonic()
        )
        if wait > timedelta(0):
            return outcomes.rate_limited(delivery, message, now + wait)
        soft, hard = resolve_limits(task, message)
        job = Job(
            id=f"job-{next(_JOB_IDS)}",
            task_id=message.id,
            task=task,
            args=message.args,
            kwargs=message.kwargs,
            soft_time_limit=soft,
            time_limit=hard,
            # Built in the pool process from the job when the task does not read it and the
            # message has no root of its own (most jobs: one object less to pickle).
            request=Request.of(message, delivery.deliveries)
            if task.bind or message.headers.root_id is not None
            else None,
        )
        entry = InFlight(delivery, message, task, now)
        self._in_flight.add(job.id, entry)
        return job, entry

    def run(self, job: Job, entry: InFlight) -> None:
        """Submit a prepared job to the pool."""
        # The broker recorded STARTED with the claim; counted here, where it is true.
        self._stats.count_state(_STARTED)
        self._pool.submit(job)

    def run_held(self, job: Job, entry: InFlight) -> Pending | None:
        """Submit a job claimed ahead (worker.consumer.ahead); or, if it expired while it
        waited for a slot, how to settle it."""
        now = self._clock()
        message = entry.message
        if message.is_expired(now):
            self._in_flight.pop(job.id)
            return outcomes.expired(entry.delivery, message, now)
        entry.started_at = now
        self.run(job, entry)
        return None

    def forget(self, job_id: str) -> None:
        """Drop a prepared job that will not run (not ours any more)."""
        self._in_flight.pop(job_id)

    def _dead_letter(
        self, delivery: Delivery, reason: str, decoded: Message | Unreadable
    ) -> Pending:
        """Dead-letter a delivery that cannot be trusted (malformed entry, undecodable)."""
        # The broker recorded STARTED under the task the payload names: replace it.
        if isinstance(decoded, Message):
            named: tuple[str, int] | None = (decoded.task, decoded.attempt)
        else:
            named = decoded.named
        return outcomes.dead_letter(delivery, reason, None, self._clock(), named)
