"""The consumer: claims messages, runs them in a pool, and settles each delivery exactly once.

At-least-once delivery, in this process's terms:

- a message is acked (removed) only after its task finished, expired, or failed for good;
- every in-flight delivery has its lease renewed at ``lease / 3`` by a separate thread
  (:class:`LeaseKeeper`), so a long task is never redelivered while this worker is alive, and a
  dead worker's messages come back within one lease (``recover_expired``, also run here);
- a delivery whose renewal is refused (the lease ran out, e.g. the process was stopped) is
  marked *lost*: its outcome is logged but not acked, the redelivered copy owns the message now;
- on shutdown, whatever has not finished is *released* back to ready, never dropped.

Outcomes:

======================  =================================================================
SUCCESS                 status SUCCESS with the result; ack
failure, retryable      ``broker.retry`` with attempt + 1 and a full-jitter backoff; RETRY
failure, out of retries status FAILURE and dead-lettered "out of retries: <error>"
failure, not retryable  status FAILURE; ack (no retry budget, or the error does not match)
======================  =================================================================

A failure is retryable when retries remain (:func:`worker.retries.effective_policy`) and either
the exception matches the task's ``autoretry_for`` (a hard time limit counts as
``worker.errors.TimeLimitExceeded``, an escaped soft limit as ``SoftTimeLimitExceeded``), or
the pool process died under the task (LOST), which is retried whenever retries remain.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskqueue.broker import Broker, Delivery, TaskState, TaskStatus
from taskqueue.errors import BrokerUnavailable, DecodeError
from taskqueue.message import Message
from worker.errors import UnknownTask
from worker.pool import Job, Outcome, OutcomeKind, Pool, resolve_limits
from worker.rate_limit import RateLimiter
from worker.registry import REGISTRY

if TYPE_CHECKING:
    from taskqueue.metrics import WorkerMetrics
from worker.retries import backoff_delay, effective_policy, matches_autoretry

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_SHUTDOWN_TIMEOUT = timedelta(seconds=30)
DEFAULT_CLAIM_TIMEOUT = timedelta(seconds=1)
DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=5)
# While tasks are in flight the loop must come back quickly to collect their outcomes, so a
# claim then waits at most this long for a new message.
_BUSY_CLAIM_TIMEOUT = timedelta(milliseconds=20)
_BUSY_WAIT_S = 0.05
# Broker outages: retry this many times with capped backoff, then give up (exit 1).
_BROKER_ATTEMPTS = 8
_BROKER_BACKOFF_MAX_S = 5.0
_TIME_LIMIT_EXC = "worker.errors.TimeLimitExceeded"
_SOFT_LIMIT_EXC = "worker.errors.SoftTimeLimitExceeded"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class InFlight:
    """One delivery being run by the pool."""

    delivery: Delivery
    message: Message
    task: Any
    started_at: datetime
    lost: bool = False


@dataclass(slots=True)
class ConsumerStats:
    """Counts since start, for logs and tests."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    expired: int = 0
    released: int = 0
    rate_limited: int = 0
    lost: int = 0
    by_state: dict[str, int] = field(default_factory=dict)


class LeaseKeeper(threading.Thread):
    """Renews every in-flight lease at ``lease / 3``; heartbeats; recovers expired leases.

    Runs on its own timer so that a busy or blocked consumer loop never lets a live task's
    lease run out. Uses its own broker connection when given one (the SQLite broker's
    connection must not be shared between threads).
    """

    def __init__(self, consumer: Consumer, broker: Broker) -> None:
        super().__init__(name=f"lease-keeper:{consumer.name}", daemon=True)
        self._consumer = consumer
        self._broker = broker
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        consumer = self._consumer
        interval_s = max(consumer.lease.total_seconds() / 3.0, 0.05)
        heartbeat_s = consumer.heartbeat_interval.total_seconds()
        last_heartbeat = 0.0
        last_recovery = 0.0
        while not self._stop_event.is_set():
            now_s = time.monotonic()
            try:
                self._renew_all()
                if now_s - last_heartbeat >= heartbeat_s:
                    ttl = max(consumer.heartbeat_interval * 3, timedelta(seconds=5))
                    self._broker.heartbeat(consumer.name, consumer.queues, ttl)
                    last_heartbeat = now_s
                if now_s - last_recovery >= interval_s:
                    recovered = self._broker.recover_expired(utc_now())
                    if recovered:
                        logger.warning("recovered %d message(s) whose lease ran out", recovered)
                    last_recovery = now_s
            except Exception:  # a broker hiccup must not end renewal for good
                logger.exception("lease renewal failed; retrying in %.2fs", interval_s)
            self._stop_event.wait(interval_s)

    def _renew_all(self) -> None:
        for job_id, entry in self._consumer.in_flight_snapshot():
            if entry.lost:
                continue
            renewed = self._broker.extend(entry.delivery, self._consumer.lease)
            self._consumer.lease_renewed(job_id, renewed)


class Consumer:
    """Claims from ``queues`` (in priority order) into ``pool`` until asked to stop."""

    def __init__(
        self,
        broker: Broker,
        pool: Pool,
        *,
        queues: Sequence[str],
        name: str,
        lease: timedelta = DEFAULT_LEASE,
        shutdown_timeout: timedelta = DEFAULT_SHUTDOWN_TIMEOUT,
        claim_timeout: timedelta = DEFAULT_CLAIM_TIMEOUT,
        heartbeat_interval: timedelta = DEFAULT_HEARTBEAT_INTERVAL,
        renewal_broker: Broker | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        metrics: WorkerMetrics | None = None,
        on_loop: Callable[[], object] | None = None,
    ) -> None:
        if not queues:
            raise ValueError("queues: at least one queue is required")
        if lease <= timedelta(0):
            raise ValueError(f"lease: must be positive, got {lease}")
        self.broker = broker
        self.pool = pool
        self.queues = list(queues)
        self.name = name
        self.lease = lease
        self.shutdown_timeout = shutdown_timeout
        # A claim must never block longer than a renewal period, or leases could lapse.
        self.claim_timeout = min(claim_timeout, lease / 3)
        self.heartbeat_interval = heartbeat_interval
        self.stats = ConsumerStats()
        self._renewal_broker = renewal_broker or broker
        self._clock = clock
        self._rng = rng or random.Random()
        self._rate_limiter = RateLimiter()
        self._in_flight: dict[str, InFlight] = {}
        self._lock = threading.Lock()
        self._stop_requests = 0
        self._recycle_requested = False
        self.metrics = metrics
        # Called once per main-loop iteration (the service pings the systemd watchdog there).
        self._on_loop = on_loop
        # Set when the pool asks for a new process (too many abandoned threads): the service
        # re-executes the worker once this consumer has drained.
        self.restart_requested = False

    # --- control (signal-safe: only set flags) ------------------------------------------
    def request_stop(self) -> None:
        """First call: drain and stop. Second call: stop now, releasing running tasks."""
        self._stop_requests += 1

    def request_recycle(self) -> None:
        """Replace the pool's processes (new code loaded) without dropping work."""
        self._recycle_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requests > 0

    @property
    def forced(self) -> bool:
        return self._stop_requests > 1

    # --- lease keeper interface -----------------------------------------------------------
    def in_flight_snapshot(self) -> list[tuple[str, InFlight]]:
        with self._lock:
            return list(self._in_flight.items())

    def lease_renewed(self, job_id: str, renewed: Delivery | None) -> None:
        with self._lock:
            entry = self._in_flight.get(job_id)
            if entry is None:
                return
            if renewed is None:
                entry.lost = True
                self.stats.lost += 1
                logger.warning(
                    "task %s[%s]: lease lost; the message will be redelivered elsewhere",
                    entry.message.task,
                    entry.message.id,
                )
            else:
                entry.delivery = renewed

    # --- main loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped; on return every claimed message is settled or released.

        Raises :class:`BrokerUnavailable` if the broker stays unreachable after retries.
        """
        keeper = LeaseKeeper(self, self._renewal_broker)
        keeper.start()
        logger.info("consumer %s: consuming %s (lease %s)", self.name, self.queues, self.lease)
        try:
            self._consume_until_stopped()
            logger.info("consumer %s: stop requested; no new messages are claimed", self.name)
            self._drain()
        finally:
            self._stop_pool_and_release()
            keeper.stop()
            keeper.join(timeout=5)

    def _consume_until_stopped(self) -> None:
        failures = 0
        while not self.stopping:
            if self._on_loop is not None:
                self._on_loop()
            if self.pool.needs_restart():
                logger.warning(
                    "consumer %s: the pool needs a fresh process (abandoned threads); "
                    "draining and restarting",
                    self.name,
                )
                self.restart_requested = True
                self.request_stop()
                break
            if self._recycle_requested:
                self._recycle_requested = False
                logger.info("recycling the pool (SIGHUP)")
                self.pool.recycle()
            try:
                self._collect(self.pool.wait(0.0 if self.pool.free_slots() > 0 else _BUSY_WAIT_S))
                if self.pool.free_slots() > 0 and not self.stopping:
                    self._claim_one()
                failures = 0
            except BrokerUnavailable as e:
                failures += 1
                if failures >= _BROKER_ATTEMPTS:
                    logger.error("giving up after %d attempts: %s", failures, e)
                    raise
                delay_s = min(_BROKER_BACKOFF_MAX_S, 0.1 * 2**failures)
                logger.warning("%s; retrying in %.1fs", e, delay_s)
                time.sleep(delay_s)

    def _drain(self) -> None:
        """Let running tasks finish, up to the shutdown timeout or a second signal."""
        if not self._has_in_flight():
            return
        deadline_s = time.monotonic() + self.shutdown_timeout.total_seconds()
        logger.info(
            "shutting down: waiting up to %s for %d running task(s)",
            self.shutdown_timeout,
            len(self.in_flight_snapshot()),
        )
        while self._has_in_flight() and not self.forced and time.monotonic() < deadline_s:
            if self._on_loop is not None:
                self._on_loop()
            self._collect(self.pool.wait(_BUSY_WAIT_S))

    def _stop_pool_and_release(self) -> None:
        if self._has_in_flight() and not self.forced:
            # Settle what already finished rather than releasing it to run a second time.
            try:
                self._collect(self.pool.wait(0.0))
            except Exception:
                logger.exception("could not settle finished tasks while stopping")
        unfinished = self.pool.stop(1.0)
        # Outcomes that arrived while stopping still count; everything else goes back.
        with self._lock:
            leftover = list(self._in_flight.items())
            self._in_flight.clear()
        unfinished_ids = {job.id for job in unfinished}
        for job_id, entry in leftover:
            if entry.lost:
                continue
            try:
                if self.broker.release(entry.delivery):
                    self.stats.released += 1
                    self._set_status(
                        entry.message, TaskState.QUEUED, attempts=entry.message.attempt
                    )
                    logger.warning(
                        "task %s[%s]: released back to %s (worker stopping%s)",
                        entry.message.task,
                        entry.message.id,
                        entry.delivery.queue,
                        "" if job_id in unfinished_ids else ", outcome unknown",
                    )
            except Exception:
                logger.exception("could not release %s; it returns after its lease", job_id)

    def _has_in_flight(self) -> bool:
        with self._lock:
            return bool(self._in_flight)

    # --- claiming -------------------------------------------------------------------------
    def _claim_one(self) -> None:
        timeout = self.claim_timeout if not self._has_in_flight() else _BUSY_CLAIM_TIMEOUT
        delivery = self.broker.claim(self.queues, self.name, self.lease, timeout)
        if delivery is None:
            return
        self.stats.claimed += 1
        self._start(delivery)

    def _start(self, delivery: Delivery) -> None:
        try:
            message = Message.decode(delivery.payload)
        except DecodeError as e:
            self._dead_letter(delivery, f"undecodable: {e.reason}", None)
            return
        try:
            task = REGISTRY.get(message.task)
        except UnknownTask:
            self._dead_letter(delivery, f"unknown task {message.task!r}", message)
            return
        now = self._clock()
        if message.is_expired(now):
            self.broker.ack(delivery)
            self.stats.expired += 1
            self._set_status(message, TaskState.EXPIRED, attempts=message.attempt, finished_at=now)
            logger.info(
                "task %s[%s]: expired at %s, not run", message.task, message.id, message.expires
            )
            return
        wait = self._rate_limiter.acquire(
            task.name, getattr(task, "rate_limit", None), time.monotonic()
        )
        if wait > timedelta(0):
            # Not an attempt: the same message goes back, delayed until a token is due.
            self.broker.retry(delivery, message, now + wait)
            self.stats.rate_limited += 1
            return
        soft, hard = resolve_limits(task, message)
        job = Job(
            id=uuid.uuid4().hex,
            task=task,
            args=message.args,
            kwargs=message.kwargs,
            soft_time_limit=soft,
            time_limit=hard,
        )
        self._set_status(message, TaskState.STARTED, attempts=message.attempt + 1, started_at=now)
        with self._lock:
            self._in_flight[job.id] = InFlight(delivery, message, task, now)
        self.pool.submit(job)

    # --- outcomes -------------------------------------------------------------------------
    def _collect(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            with self._lock:
                entry = self._in_flight.pop(outcome.job_id, None)
            if entry is None:
                logger.warning("outcome for unknown job %s ignored", outcome.job_id)
                continue
            try:
                self._settle(entry, outcome)
            except BrokerUnavailable:
                # Not acked: the lease runs out and the message is redelivered (at least once).
                logger.exception(
                    "task %s[%s]: could not record its outcome",
                    entry.message.task,
                    entry.message.id,
                )
                raise

    def _settle(self, entry: InFlight, outcome: Outcome) -> None:
        message, delivery = entry.message, entry.delivery
        finished_at = self._clock()
        runtime_s = (finished_at - entry.started_at).total_seconds()
        if entry.lost:
            logger.warning(
                "task %s[%s]: finished (%s) after its lease was lost; not acked",
                message.task,
                message.id,
                outcome.kind.name,
            )
            return
        attempts = message.attempt + 1
        if outcome.kind is OutcomeKind.SUCCESS:
            self._set_status(
                message,
                TaskState.SUCCESS,
                attempts=attempts,
                result=outcome.result,
                started_at=entry.started_at,
                finished_at=finished_at,
            )
            self.broker.ack(delivery)
            self.stats.succeeded += 1
            logger.info("task %s[%s] succeeded in %.3fs", message.task, message.id, runtime_s)
            return
        error, exc_type = _describe_failure(outcome)
        if self.metrics is not None and outcome.kind is OutcomeKind.TIME_LIMIT:
            self.metrics.time_limit_kill(message.task, "hard")
        elif self.metrics is not None and outcome.kind is OutcomeKind.SOFT_TIME_LIMIT:
            self.metrics.time_limit_kill(message.task, "soft")
        policy = effective_policy(message, entry.task)
        retries_left = message.attempt < policy.max_retries
        eligible = outcome.kind is OutcomeKind.LOST or matches_autoretry(
            exc_type, getattr(entry.task, "autoretry_for", ()) or ()
        )
        if eligible and retries_left:
            delay = backoff_delay(message.attempt, policy.backoff, policy.backoff_max, self._rng)
            self.broker.retry(delivery, message.next_attempt(), finished_at + delay)
            self._set_status(
                message,
                TaskState.RETRY,
                attempts=attempts,
                error=error,
                started_at=entry.started_at,
                finished_at=finished_at,
            )
            self.stats.retried += 1
            logger.warning(
                "task %s[%s] failed (%s) in %.3fs; retry %d/%d in %.2fs",
                message.task,
                message.id,
                error,
                runtime_s,
                message.attempt + 1,
                policy.max_retries,
                delay.total_seconds(),
            )
            return
        self._set_status(
            message,
            TaskState.FAILURE,
            attempts=attempts,
            error=error,
            started_at=entry.started_at,
            finished_at=finished_at,
        )
        self.stats.failed += 1
        if eligible and policy.max_retries > 0:
            self.broker.dead_letter(delivery, f"out of retries: {error}")
            self.stats.dead_lettered += 1
        else:
            self.broker.ack(delivery)
        logger.error("task %s[%s] failed in %.3fs: %s", message.task, message.id, runtime_s, error)

    def _dead_letter(self, delivery: Delivery, reason: str, message: Message | None) -> None:
        self.broker.dead_letter(delivery, reason)
        self.stats.dead_lettered += 1
        if message is not None:
            self._set_status(
                message,
                TaskState.DEAD,
                attempts=message.attempt,
                error=reason,
                finished_at=self._clock(),
            )
        logger.error(
            "message %s on %s dead-lettered: %s", delivery.message_id, delivery.queue, reason
        )

    def _set_status(
        self,
        message: Message,
        state: TaskState,
        *,
        attempts: int,
        result: Any = None,
        error: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        self.stats.by_state[state.value] = self.stats.by_state.get(state.value, 0) + 1
        if self.metrics is not None and state not in (TaskState.QUEUED, TaskState.STARTED):
            runtime_s = (
                (finished_at - started_at).total_seconds() if finished_at and started_at else None
            )
            self.metrics.task_finished(message.task, state.value, runtime_s)
        status = TaskStatus(
            id=message.id,
            task=message.task,
            state=state,
            attempts=attempts,
            result=result,
            error=error,
            started_at=started_at,
            finished_at=finished_at,
        )
        try:
            self.broker.set_status(status)
        except (TypeError, ValueError):
            # A result that cannot be stored (not JSON) must not lose the outcome itself.
            self.broker.set_status(
                TaskStatus(
                    id=message.id,
                    task=message.task,
                    state=state,
                    attempts=attempts,
                    result=repr(result),
                    error=error,
                    started_at=started_at,
                    finished_at=finished_at,
                )
            )


def _describe_failure(outcome: Outcome) -> tuple[str, str | None]:
    """(error text, exception name) for a failed outcome, naming limit kills explicitly."""
    if outcome.kind is OutcomeKind.TIME_LIMIT:
        return f"TimeLimitExceeded: {outcome.error or 'hard time limit'}", _TIME_LIMIT_EXC
    if outcome.kind is OutcomeKind.SOFT_TIME_LIMIT:
        return f"SoftTimeLimitExceeded: {outcome.error or 'soft time limit'}", _SOFT_LIMIT_EXC
    if outcome.kind is OutcomeKind.LOST:
        return f"WorkerLost: {outcome.error or 'the pool process died'}", outcome.exc_type
    name = outcome.exc_type or "Exception"
    error = outcome.error or name
    short = name.rpartition(".")[2]
    return (error if error.startswith(short) else f"{short}: {error}"), outcome.exc_type
