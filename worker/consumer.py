"""The consumer: claims messages, runs them in a pool, and settles each delivery exactly once.

At-least-once delivery, in this process's terms:

- a message is acked (removed) only after its task finished, expired, or failed for good;
- every in-flight delivery has its lease renewed at ``lease / 3`` by a separate thread
  (:class:`LeaseKeeper`), so a long task is never redelivered while this worker is alive, and a
  dead worker's messages come back within one lease (``recover_expired``, also run here);
- a delivery whose renewal is refused (the lease ran out, e.g. the process was stopped) is
  marked *lost*: its outcome is logged but not acked, the redelivered copy owns the message now;
- on shutdown, whatever has not finished is *released* back to ready, never dropped.

Batches (throughput: a no-op task used to cost four sequential broker round trips):

- ``claim_many`` takes at most the pool's free slots, and the broker records STARTED in the
  same atomic step, so a claimed message is a started one (nothing waits in a prefetch buffer
  holding a lease and a false STARTED). A claimed message that cannot run (undecodable,
  unknown task, expired, rate limited) is settled right away with its true state;
- every outcome the pool returned in one loop iteration is settled by one ``settle_many``
  call (action and status together, atomically per message; a claim that is no longer ours
  is neither settled nor given a status);
- each iteration claims the next batch *before* settling the finished one, so the pool runs
  while the outcomes are recorded. Outcomes wait in a buffer until settled: a failed claim
  loses none.

Outcomes:

======================  =================================================================
SUCCESS                 status SUCCESS with the result; ack
failure, retryable      retry with attempt + 1 and a full-jitter backoff; status RETRY
failure, out of retries status FAILURE and dead-lettered "out of retries: <error>"
failure, not retryable  status FAILURE; ack (no retry budget, or the error does not match)
pool process died       redelivered like a message whose worker died: not a retry (the
                        attempt stays), status QUEUED with the WorkerLost error; once the
                        attempt was delivered ``max_deliveries`` times, status FAILURE and
                        dead-lettered with the reason (a task that always kills its process
                        cannot loop)
expired before it ran   status EXPIRED; ack
task raised ``Reject``  status DEAD; dead-lettered "rejected: <reason>" (never retried)
rate limited            the same message back, delayed until a token is due; status QUEUED
======================  =================================================================

A failure is retryable when retries remain (:func:`worker.retries.effective_policy`) and the
exception matches the task's ``autoretry_for`` (a hard time limit counts as
``worker.errors.TimeLimitExceeded``, an escaped soft limit as ``SoftTimeLimitExceeded``).

Deliveries are counted apart from retries: the broker counts each claim of a message's current
attempt (``Delivery.deliveries``), so deaths of the pool process and of the whole worker both
count. A delivery beyond ``max_deliveries`` is dead-lettered without being run.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskqueue.broker import (
    ACK,
    REDELIVER,
    Broker,
    DeadLetterAction,
    Delivery,
    RetryAction,
    Settlement,
    TaskState,
    TaskStatus,
)
from taskqueue.errors import BrokerDataError, BrokerUnavailable, DecodeError
from taskqueue.message import Message
from worker.errors import UnknownTask
from worker.pool import Job, Outcome, OutcomeKind, Pool, resolve_limits
from worker.rate_limit import RateLimiter
from worker.registry import REGISTRY

if TYPE_CHECKING:
    from daemonkit.metrics import WorkerMetrics
from worker.retries import backoff_delay, effective_policy, matches_autoretry

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_SHUTDOWN_TIMEOUT = timedelta(seconds=30)
DEFAULT_CLAIM_TIMEOUT = timedelta(seconds=1)
DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=5)
# Deliveries of one attempt after which a message whose runs never end (its process dies) is
# dead-lettered: worker.max_deliveries.
DEFAULT_MAX_DELIVERIES = 3
# While tasks are in flight the loop must come back quickly to collect their outcomes, so a
# claim then waits at most this long for a new message.
_BUSY_CLAIM_TIMEOUT = timedelta(milliseconds=20)
_BUSY_WAIT_S = 0.05
# Broker outages: retry this many times with capped backoff, then give up (exit 1).
_BROKER_BACKOFF_MAX_S = 5.0
_TIME_LIMIT_EXC = "worker.errors.TimeLimitExceeded"
_SOFT_LIMIT_EXC = "worker.errors.SoftTimeLimitExceeded"
_STARTED = TaskState.STARTED.value


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
    redelivered: int = 0
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
        failing = False
        while not self._stop_event.is_set():
            now_s = time.monotonic()
            try:
                self._renew_all()
                if now_s - last_heartbeat >= heartbeat_s:
                    ttl = max(consumer.heartbeat_interval * 3, timedelta(seconds=5))
                    self._broker.heartbeat(consumer.name, consumer.queues, ttl)
                    last_heartbeat = now_s
                if now_s - last_recovery >= interval_s:
                    recovered = self._broker.recover_expired()
                    if recovered:
                        logger.warning("recovered %d message(s) whose lease ran out", recovered)
                    last_recovery = now_s
                if failing:
                    logger.warning("lease keeper: broker reachable again")
                    failing = False
            except BrokerDataError as e:
                # Garbage in the store: the consumer loop reports it (once); not a bug here.
                consumer.report_data_error(e)
                failing = True
            except BrokerUnavailable as e:
                # An outage: one line when it starts and one when it ends, not one per retry.
                if not failing:
                    logger.warning("lease keeper: broker unreachable, retrying: %s", e)
                    failing = True
                else:
                    logger.debug("lease keeper: broker still unreachable: %s", e)
            except Exception:  # anything else is a bug worth a traceback, but renewal goes on
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
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    ) -> None:
        if not queues:
            raise ValueError("queues: at least one queue is required")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries: must be at least 1, got {max_deliveries}")
        self.max_deliveries = max_deliveries
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
        # Outcomes from the pool not yet settled (settled in one broker call per loop).
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop_requests = 0
        self._recycle_requested = False
        self.metrics = metrics
        # Called once per main-loop iteration (the service pings the systemd watchdog there).
        self._on_loop = on_loop
        # Set when the pool asks for a new process (too many abandoned threads): the service
        # re-executes the worker once this consumer has drained.
        self.restart_requested = False
        # The last BrokerDataError logged (by the loop or the lease keeper): the same one is
        # logged once, not on every retry.
        self._data_error: str | None = None

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
                    extra=task_fields(entry.message, entry.delivery.queue, "LEASE_LOST"),
                )
            else:
                entry.delivery = renewed

    def report_data_error(self, error: BrokerDataError) -> None:
        """Log a broker data error once (until it changes or goes away)."""
        text = str(error)
        with self._lock:
            if text == self._data_error:
                logger.debug("broker data still unusable: %s", text)
                return
            self._data_error = text
        logger.error("consumer %s: %s; retrying with backoff", self.name, text)

    def _data_error_gone(self) -> None:
        with self._lock:
            gone, self._data_error = self._data_error is not None, None
        if gone:
            logger.warning("consumer %s: the broker's data is usable again", self.name)

    # --- main loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped; on return every claimed message is settled or released.

        A broker outage is retried with backoff until the broker answers again or a stop is
        requested; nothing in flight is dropped meanwhile.
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
            self._forget_heartbeat()

    def _forget_heartbeat(self) -> None:
        """A clean stop deregisters at once: ``beat queues`` must not count this consumer
        live until its heartbeat expires."""
        try:
            self.broker.forget_consumer(self.name, self.queues)
        except Exception as e:  # the broker may be down: the heartbeat then just expires
            logger.warning(
                "consumer %s: could not deregister (%s); it expires instead", self.name, e
            )

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
                free = self.pool.free_slots()
                self._outcomes.extend(self.pool.wait(0.0 if free > 0 else _BUSY_WAIT_S))
                # Claim before settling: the pool runs the next batch while the finished one
                # is recorded. Outcomes wait in a buffer, so a failed claim loses none.
                free = self.pool.free_slots()
                if free > 0 and not self.stopping:
                    self._claim_batch(free, bool(self._outcomes))
                self._collect()
                if failures and not self._data_error:
                    logger.warning(
                        "consumer %s: broker reachable again after %d failed attempt(s)",
                        self.name,
                        failures,
                    )
                self._data_error_gone()
                failures = 0
            except BrokerDataError as e:
                # A key of the wrong type: no retry fixes it until someone repairs the store,
                # so one line naming it, then quiet retries with backoff (never a crash loop).
                failures += 1
                self.report_data_error(e)
                time.sleep(min(_BROKER_BACKOFF_MAX_S, 0.1 * 2 ** min(failures, 10)))
            except BrokerUnavailable as e:
                # Keep trying (a worker outlives a broker restart); one line when the outage
                # starts and one when it ends, not one per retry.
                failures += 1
                delay_s = min(_BROKER_BACKOFF_MAX_S, 0.1 * 2 ** min(failures, 10))
                if failures == 1:
                    logger.error("consumer %s: broker unreachable, retrying: %s", self.name, e)
                else:
                    logger.debug("broker still unreachable (%d): %s", failures, e)
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
            self._outcomes.extend(self.pool.wait(_BUSY_WAIT_S))
            self._collect()

    def _stop_pool_and_release(self) -> None:
        if self._has_in_flight() and not self.forced:
            # Settle what already finished rather than releasing it to run a second time.
            try:
                self._outcomes.extend(self.pool.wait(0.0))
                self._collect()
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
                        extra=task_fields(entry.message, entry.delivery.queue, TaskState.QUEUED),
                    )
            except Exception:
                logger.exception("could not release %s; it returns after its lease", job_id)

    def _has_in_flight(self) -> bool:
        with self._lock:
            return bool(self._in_flight)

    # --- claiming -------------------------------------------------------------------------
    def _claim_batch(self, free: int, has_outcomes: bool) -> None:
        """Claim up to ``free`` messages (recorded STARTED by the broker) and start them.

        Claims only as many as the pool can start now, so a claimed message is a started one
        (prefetching more would report STARTED for messages waiting for a slot, and hold their
        leases idle). Messages that cannot run (undecodable, unknown task, expired, rate
        limited) are settled together right after.
        """
        if has_outcomes:
            timeout = timedelta(0)  # finished tasks are waiting to be settled
        elif self._has_in_flight():
            timeout = _BUSY_CLAIM_TIMEOUT
        else:
            timeout = self.claim_timeout
        deliveries = self.broker.claim_many(self.queues, self.name, self.lease, timeout, free)
        if not deliveries:
            return
        self.stats.claimed += len(deliveries)
        refused = [p for d in deliveries if (p := self._start(d)) is not None]
        if refused:
            self._settle(refused)

    def _start(self, delivery: Delivery) -> _Pending | None:
        """Submit the delivery's task to the pool; or, if it cannot run, how to settle it."""
        if delivery.problem is not None:
            return self._dead_letter(delivery, f"malformed queue entry: {delivery.problem}", None)
        try:
            message = Message.decode(delivery.payload)
        except DecodeError as e:
            return self._dead_letter(delivery, f"undecodable: {e.reason}", None)
        except RecursionError:
            # json.loads on deeply nested JSON; Message.decode does not map it (yet): one
            # such message must not end the consumer loop.
            return self._dead_letter(delivery, "undecodable: JSON nested too deeply", None)
        if delivery.deliveries > self.max_deliveries:
            reason = (
                f"delivered {delivery.deliveries} times without an outcome "
                f"(worker.max_deliveries is {self.max_deliveries}): the worker or its pool "
                "process died under it each time"
            )
            return self._dead_letter(delivery, reason, message)
        try:
            task = REGISTRY.get(message.task)
        except UnknownTask:
            return self._dead_letter(delivery, f"unknown task {message.task!r}", message)
        now = self._clock()
        if message.is_expired(now):
            logger.info(
                "task %s[%s]: expired at %s, not run",
                message.task,
                message.id,
                message.expires,
                extra=task_fields(message, delivery.queue, TaskState.EXPIRED),
            )
            status = _status(message, TaskState.EXPIRED, message.attempt, finished_at=now)
            return _Pending(Settlement(delivery, ACK, status), ("expired",))
        wait = self._rate_limiter.acquire(
            task.name, getattr(task, "rate_limit", None), time.monotonic()
        )
        if wait > timedelta(0):
            # Not an attempt: the same message goes back, delayed until a token is due, and
            # its state (STARTED since the claim) back to QUEUED.
            status = _status(message, TaskState.QUEUED, message.attempt)
            action = RetryAction(message, now + wait)
            return _Pending(Settlement(delivery, action, status), ("rate_limited",))
        soft, hard = resolve_limits(task, message)
        job = Job(
            id=uuid.uuid4().hex,
            task_id=message.id,
            task=task,
            args=message.args,
            kwargs=message.kwargs,
            soft_time_limit=soft,
            time_limit=hard,
        )
        # The broker recorded STARTED with the claim; counted here, where it is true.
        self.stats.by_state[_STARTED] = self.stats.by_state.get(_STARTED, 0) + 1
        with self._lock:
            self._in_flight[job.id] = InFlight(delivery, message, task, now)
        self.pool.submit(job)
        return None

    def _dead_letter(self, delivery: Delivery, reason: str, message: Message | None) -> _Pending:
        named = _peek_task(delivery.payload) if message is None else None
        logger.error(
            "message %s on %s dead-lettered: %s",
            delivery.message_id,
            delivery.queue,
            reason,
            extra={
                "task": message.task if message is not None else (named or (None,))[0],
                "task_id": delivery.message_id,
                "state": TaskState.DEAD.value,
                "queue": delivery.queue,
            },
        )
        finished_at = self._clock()
        if message is not None:
            status: TaskStatus | None = _status(
                message, TaskState.DEAD, message.attempt, error=reason, finished_at=finished_at
            )
        else:
            # The broker may have recorded STARTED if the payload named its task: replace it.
            status = None
            if named is not None:
                status = TaskStatus(
                    id=delivery.message_id,
                    task=named[0],
                    state=TaskState.DEAD,
                    attempts=named[1],
                    error=reason,
                    finished_at=finished_at,
                )
        return _Pending(Settlement(delivery, DeadLetterAction(reason), status), ("dead_lettered",))

    # --- outcomes -------------------------------------------------------------------------
    def _collect(self) -> None:
        """Settle the buffered outcomes in one broker call."""
        outcomes, self._outcomes = self._outcomes, []
        pending: list[_Pending] = []
        for outcome in outcomes:
            with self._lock:
                entry = self._in_flight.pop(outcome.job_id, None)
            if entry is None:
                logger.warning("outcome for unknown job %s ignored", outcome.job_id)
                continue
            settling = self._settlement(entry, outcome)
            if settling is not None:
                pending.append(settling)
        if pending:
            self._settle(pending)

    def _settle(self, pending: list[_Pending]) -> None:
        items = [_with_deliveries(p.settlement) for p in pending]
        try:
            try:
                settled = self.broker.settle_many(items)
            except (TypeError, ValueError):
                # A result that cannot be stored (not JSON) must not lose the outcome itself.
                items = [_storable(item) for item in items]
                settled = self.broker.settle_many(items)
        except BrokerUnavailable:
            # Not settled: the leases run out and the messages are redelivered (at least once).
            logger.exception(
                "could not record the outcome of %s",
                ", ".join(f"{i.delivery.message_id}" for i in items),
            )
            raise
        for p, item, ok in zip(pending, items, settled, strict=True):
            if not ok:
                self.stats.lost += 1
                logger.warning(
                    "message %s on %s: claim no longer ours (lease lost); outcome not recorded",
                    item.delivery.message_id,
                    item.delivery.queue,
                )
                continue
            for counter in p.counters:
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            status = item.status
            if status is not None:
                self._count_state(status)

    def _count_state(self, status: TaskStatus) -> None:
        state = status.state.value
        self.stats.by_state[state] = self.stats.by_state.get(state, 0) + 1
        if self.metrics is not None and status.state not in (TaskState.QUEUED, TaskState.STARTED):
            runtime_s = (
                (status.finished_at - status.started_at).total_seconds()
                if status.finished_at and status.started_at
                else None
            )
            self.metrics.task_finished(status.task, state, runtime_s)

    def _settlement(self, entry: InFlight, outcome: Outcome) -> _Pending | None:
        """How to settle a finished job (None if its lease was lost: not ours to settle)."""
        message, delivery = entry.message, entry.delivery
        finished_at = self._clock()
        runtime_s = (finished_at - entry.started_at).total_seconds()
        if entry.lost:
            logger.warning(
                "task %s[%s]: finished (%s) after its lease was lost; not acked",
                message.task,
                message.id,
                outcome.kind.name,
                extra=task_fields(message, delivery.queue, "LEASE_LOST", runtime_s),
            )
            return None
        attempts = message.attempt + 1
        started_at = entry.started_at
        if outcome.kind is OutcomeKind.SUCCESS:
            logger.info(
                "task %s[%s] succeeded in %.3fs",
                message.task,
                message.id,
                runtime_s,
                extra=task_fields(message, delivery.queue, TaskState.SUCCESS, runtime_s),
            )
            status = _status(
                message,
                TaskState.SUCCESS,
                attempts,
                result=outcome.result,
                started_at=started_at,
                finished_at=finished_at,
            )
            return _Pending(Settlement(delivery, ACK, status), ("succeeded",))
        if outcome.kind is OutcomeKind.REJECTED:
            # The task refused the message itself (e.g. a command not allowed here): no
            # retry can change that, so it goes to the dead letters with the task's reason.
            reason = f"rejected: {outcome.error or 'rejected by the task'}"
            logger.error("task %s[%s] %s", message.task, message.id, reason)
            status = _status(
                message,
                TaskState.DEAD,
                attempts,
                error=reason,
                started_at=started_at,
                finished_at=finished_at,
            )
            rejected = DeadLetterAction(reason)
            return _Pending(Settlement(delivery, rejected, status), ("dead_lettered",))
        error, exc_type = _describe_failure(outcome)
        if outcome.kind is OutcomeKind.LOST:
            return self._lost(entry, error, runtime_s, finished_at)
        if self.metrics is not None and outcome.kind is OutcomeKind.TIME_LIMIT:
            self.metrics.time_limit_kill(message.task, "hard")
        elif self.metrics is not None and outcome.kind is OutcomeKind.SOFT_TIME_LIMIT:
            self.metrics.time_limit_kill(message.task, "soft")
        policy = effective_policy(message, entry.task)
        retries_left = message.attempt < policy.max_retries
        eligible = matches_autoretry(exc_type, getattr(entry.task, "autoretry_for", ()) or ())
        if eligible and retries_left:
            delay = backoff_delay(message.attempt, policy.backoff, policy.backoff_max, self._rng)
            logger.warning(
                "task %s[%s] failed (%s) in %.3fs; retry %d/%d in %.2fs",
                message.task,
                message.id,
                error,
                runtime_s,
                message.attempt + 1,
                policy.max_retries,
                delay.total_seconds(),
                extra=task_fields(message, delivery.queue, TaskState.RETRY, runtime_s),
            )
            status = _status(
                message,
                TaskState.RETRY,
                attempts,
                error=error,
                started_at=started_at,
                finished_at=finished_at,
            )
            action = RetryAction(message.next_attempt(), finished_at + delay)
            return _Pending(Settlement(delivery, action, status), ("retried",))
        logger.error(
            "task %s[%s] failed in %.3fs: %s",
            message.task,
            message.id,
            runtime_s,
            error,
            extra=task_fields(message, delivery.queue, TaskState.FAILURE, runtime_s),
        )
        status = _status(
            message,
            TaskState.FAILURE,
            attempts,
            error=error,
            started_at=started_at,
            finished_at=finished_at,
        )
        if eligible and policy.max_retries > 0:
            dead = DeadLetterAction(f"out of retries: {error}")
            return _Pending(Settlement(delivery, dead, status), ("failed", "dead_lettered"))
        return _Pending(Settlement(delivery, ACK, status), ("failed",))

    def _lost(
        self, entry: InFlight, error: str, runtime_s: float, finished_at: datetime
    ) -> _Pending:
        """The pool process died under the task: redeliver it like a message whose worker
        died (no retry spent), or dead-letter it once its attempt was delivered
        ``max_deliveries`` times."""
        message, delivery = entry.message, entry.delivery
        n, limit = delivery.deliveries, self.max_deliveries
        if n >= limit:
            reason = f"{error}; delivered {n} times (worker.max_deliveries is {limit})"
            logger.error("task %s[%s] dead-lettered: %s", message.task, message.id, reason)
            status = _status(
                message,
                TaskState.FAILURE,
                message.attempt + 1,
                error=reason,
                started_at=entry.started_at,
                finished_at=finished_at,
            )
            action = DeadLetterAction(reason)
            return _Pending(Settlement(delivery, action, status), ("failed", "dead_lettered"))
        logger.warning(
            "task %s[%s]: %s after %.3fs; redelivered (delivery %d of at most %d)",
            message.task,
            message.id,
            error,
            runtime_s,
            n,
            limit,
        )
        status = _status(
            message, TaskState.QUEUED, message.attempt, error=f"{error} (delivery {n} of {limit})"
        )
        return _Pending(Settlement(delivery, REDELIVER, status), ("redelivered",))

    def _set_status(self, message: Message, state: TaskState, *, attempts: int) -> None:
        """Record a state outside a settlement (a message released at shutdown)."""
        status = _status(message, state, attempts)
        self._count_state(status)
        self.broker.set_status(status)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A settlement on its way to the broker, and the stats to count once it is applied."""

    settlement: Settlement
    counters: tuple[str, ...]


def _status(
    message: Message,
    state: TaskState,
    attempts: int,
    *,
    result: Any = None,
    error: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> TaskStatus:
    return TaskStatus(
        id=message.id,
        task=message.task,
        state=state,
        attempts=attempts,
        result=result,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
    )


def _with_deliveries(item: Settlement) -> Settlement:
    """``item`` with its status carrying the delivery count of its claim."""
    status = item.status
    if status is None or status.deliveries:
        return item
    return replace(item, status=replace(status, deliveries=item.delivery.deliveries))


def _storable(item: Settlement) -> Settlement:
    """``item`` with its status result replaced by its repr if it is not JSON."""
    status = item.status
    if status is None:
        return item
    try:
        json.dumps(status.result, allow_nan=False)
    except (TypeError, ValueError):
        return replace(item, status=replace(status, result=repr(status.result)))
    return item


def task_fields(
    message: Message, queue: str, state: TaskState | str, runtime_s: float | None = None
) -> dict[str, Any]:
    """The fields every log line about a task carries (JSON: fields; text: ``key=value``)."""
    fields: dict[str, Any] = {
        "task": message.task,
        "task_id": message.id,
        "state": state.value if isinstance(state, TaskState) else state,
        "queue": queue,
    }
    if runtime_s is not None:
        fields["runtime_s"] = round(runtime_s, 6)
    return fields


def _peek_task(payload: bytes) -> tuple[str, int] | None:
    """(task, attempt) of a payload that did not decode as a message, if it names them (as
    the broker's claim step reads them to record STARTED)."""
    try:
        wire = json.loads(payload)
        task, attempt = wire["task"], wire["attempt"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError, RecursionError):
        return None
    if not isinstance(task, str) or not isinstance(attempt, int | float):
        return None
    return task, int(attempt)


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
