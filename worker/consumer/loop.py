"""The consumer loop: claim a batch, start it, settle what finished; drain on stop."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from taskqueue.broker import DEFAULT_RESULT_TTL, Broker, Delivery
from taskqueue.errors import BrokerDataError, BrokerUnavailable
from worker.consumer.ahead import ClaimAhead
from worker.consumer.in_flight import ConsumerStats, InFlight, InFlightTable
from worker.consumer.lease_keeper import LeaseKeeper
from worker.consumer.outages import BrokerHealth
from worker.consumer.outcomes import Finished, Pending, settle_finished
from worker.consumer.presence import WorkerIdentity
from worker.consumer.settle import Settler
from worker.consumer.shutdown import release_unfinished
from worker.consumer.start import Starter
from worker.pool import Job, Outcome, Pool
from worker.progress import record_progress

if TYPE_CHECKING:
    from daemonkit.metrics import WorkerMetrics

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_SHUTDOWN_TIMEOUT = timedelta(seconds=30)
DEFAULT_CLAIM_TIMEOUT = timedelta(seconds=1)
DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=5)
# Deliveries of one attempt after which a message whose runs never end (its process dies) is
# dead-lettered: worker.max_deliveries.
DEFAULT_MAX_DELIVERIES = 3
# While tasks are in flight the loop first waits this long on the pool: a task that ends
# meanwhile (a short one: most) is settled with the next claim in one round trip, rather than
# after a claim that finds nothing (one more round trip on every delay().get()).
_SETTLE_FIRST_WAIT = timedelta(milliseconds=2)
# Then it claims without blocking and waits this long on the pool (which returns the moment a
# task ends): a new message waits at most the two waits together.
_BUSY_CLAIM_TIMEOUT = timedelta(milliseconds=18)
_BUSY_WAIT = timedelta(milliseconds=50)
# Having outcomes to settle while other tasks run, the loop waits this long for one more: a
# no-op workload then settles and claims two per round trip instead of one (half the
# scripts and wake-ups per task), for a settlement at most this much later.
_GATHER_WAIT = timedelta(milliseconds=1)
# The longest an outcome waits to be settled with the next ones (see _settle_later).
_SETTLE_DELAY = timedelta(milliseconds=10)
# How long idle pool processes get to exit at shutdown before they are killed.
_POOL_STOP_TIMEOUT = timedelta(seconds=1)
# How long run() waits for the lease keeper thread to end.
_KEEPER_JOIN_TIMEOUT = timedelta(seconds=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        identity: WorkerIdentity | None = None,
        result_expires: timedelta = DEFAULT_RESULT_TTL,
    ) -> None:
        if not queues:
            raise ValueError("queues: at least one queue is required")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries: must be at least 1, got {max_deliveries}")
        if lease <= timedelta(0):
            raise ValueError(f"lease: must be positive, got {lease}")
        self.max_deliveries = max_deliveries
        # Published as the worker's heartbeat record (``beat workers``); None: not published.
        self.identity = identity
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
        self.metrics = metrics
        self._renewal_broker = renewal_broker or broker
        self._clock = clock
        self._rng = rng or random.Random()
        self._in_flight = InFlightTable(self.stats)
        self._health = BrokerHealth(name)
        self._settler = Settler(broker, self.stats, metrics, result_expires)
        self._starter = Starter(
            pool, self._in_flight, self.stats, clock=clock, max_deliveries=max_deliveries
        )
        # Deliveries claimed before a slot was free, while tasks are short.
        self._ahead = ClaimAhead(pool.concurrency, lease)
        # Outcomes from the pool not yet settled (settled in one broker call per loop), and
        # since when (monotonic) the first of them waits.
        self._outcomes: list[Outcome] = []
        self._outcomes_since_s = 0.0
        # Settlements a broker outage interrupted: sent again with the next settle.
        self._unsettled: list[Pending] = []
        # Settle and claim in one call when the broker's own class offers it; a wrapper that
        # only forwards attribute access (tests counting claim_many/settle_many calls) keeps
        # the two separate calls it observes.
        self._combined = callable(getattr(type(broker), "settle_and_claim", None))
        self._stop_requests = 0
        self._recycle_requested = False
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

    # --- main loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped; on return every claimed message is settled or released.

        A broker outage is retried with backoff until the broker answers again or a stop is
        requested; nothing in flight is dropped meanwhile.
        """
        keeper = LeaseKeeper(
            consumer_name=self.name,
            queues=self.queues,
            broker=self._renewal_broker,
            in_flight=self._in_flight,
            lease=self.lease,
            heartbeat_interval=self.heartbeat_interval,
            health=self._health,
            identity=self.identity,
        )
        keeper.start()
        logger.info("consumer %s: consuming %s (lease %s)", self.name, self.queues, self.lease)
        try:
            self._consume_until_stopped()
            logger.info("consumer %s: stop requested; no new messages are claimed", self.name)
            self._release_held(self._ahead.take_all())
            self._drain()
        finally:
            self._stop_pool_and_release()
            keeper.stop()
            keeper.join(timeout=_KEEPER_JOIN_TIMEOUT.total_seconds())
            self._forget_heartbeat()

    def _forget_heartbeat(self) -> None:
        """A clean stop deregisters at once: ``beat queues`` must not count this consumer
        live until its heartbeat expires, nor ``beat workers`` list it."""
        try:
            self.broker.forget_consumer(self.name, self.queues)
            if self.identity is not None:
                self.broker.remove_worker(self.name)
        except Exception as e:  # the broker may be down: the heartbeat then just expires
            logger.warning(
                "consumer %s: could not deregister (%s); it expires instead", self.name, e
            )

    def _consume_until_stopped(self) -> None:
        while not self.stopping:
            if self._on_loop is not None:
                self._on_loop()
            if not self._tend_pool():
                break
            try:
                self._iterate()
                self._health.succeeded()
            except BrokerDataError as e:
                time.sleep(self._health.data_failed(e))
            except BrokerUnavailable as e:
                time.sleep(self._health.unreachable(e))

    def _tend_pool(self) -> bool:
        """Act on the pool's and the operator's requests; False when the loop must stop."""
        if self.pool.needs_restart():
            logger.warning(
                "consumer %s: the pool needs a fresh process (abandoned threads); "
                "draining and restarting",
                self.name,
            )
            self.restart_requested = True
            self.request_stop()
            return False
        if self._recycle_requested:
            self._recycle_requested = False
            logger.info("recycling the pool (SIGHUP)")
            self.pool.recycle()
        return True

    def _iterate(self) -> None:
        self._terminate_revoked()
        free = self.pool.free_slots()
        self._take_outcomes(0.0 if free > 0 else self._busy_wait_s())
        if self._outcomes and self._running() > len(self._outcomes):
            # Others still run: one that ends within this wait is settled in the same call.
            self._take_outcomes(_GATHER_WAIT.total_seconds())
        # Slots that freed run what was claimed ahead at once, before any broker call.
        self._start_held()
        if self._settle_later():
            return
        # Claim before settling: the pool runs the next batch while the finished one is
        # recorded. Outcomes wait in a buffer, so a failed claim loses none.
        free = self.pool.free_slots()
        to_settle = bool(self._outcomes or self._unsettled)
        wanted = 0
        if not self.stopping and (free > 0 or to_settle):
            wanted = free + self._ahead.wanted()
        if wanted > 0 and self._combined and to_settle:
            # One round trip records what finished and takes the next batch.
            self._settle_and_claim(wanted)
            return
        if self._unsettled:
            # Settlements an outage interrupted go before any claim: a claim returns expired
            # leases to ready, and after a long outage (a failover) those include ours.
            self._collect()
        if wanted > 0:
            self._claim_batch(wanted, to_settle)
        self._collect()

    def _take_outcomes(self, timeout_s: float) -> None:
        outcomes = self.pool.wait(timeout_s)
        if outcomes:
            if not self._outcomes:
                self._outcomes_since_s = time.monotonic()
            self._ahead.observe(outcomes)
            self._outcomes.extend(outcomes)

    def _settle_later(self) -> bool:
        """Whether to keep the outcomes for one more turn: while enough is claimed ahead to
        refill every slot again, a short workload settles (and claims) up to four times the
        concurrency per round trip, each outcome at most ``_SETTLE_DELAY`` later."""
        if self.stopping or self._unsettled or not self._outcomes:
            return False
        if len(self._outcomes) >= self._ahead.limit or len(self._ahead) < self.pool.concurrency:
            return False
        return time.monotonic() - self._outcomes_since_s < _SETTLE_DELAY.total_seconds()

    def _busy_wait_s(self) -> float:
        """How long to wait on a full pool: until an outcome kept by _settle_later is due."""
        if not self._outcomes:
            return _BUSY_WAIT.total_seconds()
        due_s = self._outcomes_since_s + _SETTLE_DELAY.total_seconds() - time.monotonic()
        return min(max(due_s, 0.0), _BUSY_WAIT.total_seconds())

    def _running(self) -> int:
        """Jobs the pool runs (in flight, less those claimed ahead)."""
        return len(self._in_flight) - len(self._ahead)

    def _start_held(self) -> None:
        """Start deliveries claimed ahead in the free slots; release those held too long."""
        if len(self._ahead):
            # Expired while held: settled with the next call, before any claim.
            self._unsettled += self._ahead.start(self.pool.free_slots(), self._starter)
            self._release_held(self._ahead.overdue())

    def _release_held(self, held: list[tuple[Job, InFlight]]) -> None:
        """Give deliveries claimed ahead back to the queue (they never started)."""
        if not held:
            return
        leftover = []
        for job, _ in held:
            entry = self._in_flight.pop(job.id)
            if entry is not None:
                leftover.append((job.id, entry))
        release_unfinished(
            self.broker, self._settler, self.stats, leftover, {job.id for job, _ in held}
        )

    def _terminate_revoked(self) -> None:
        """Stop the running tasks revoked with terminate (their outcome: REVOKED)."""
        for job_id in self._in_flight.take_terminations():
            if self.pool.terminate(job_id):
                logger.warning("consumer %s: job %s revoked; terminating it", self.name, job_id)
            elif (revoked := self._ahead.revoke(job_id, self._clock())) is not None:
                logger.warning("consumer %s: job %s revoked before it started", self.name, job_id)
                self._outcomes.append(revoked)

    def _drain(self) -> None:
        """Let running tasks finish, up to the shutdown timeout or a second signal."""
        if not self._in_flight:
            return
        deadline_s = time.monotonic() + self.shutdown_timeout.total_seconds()
        logger.info(
            "shutting down: waiting up to %s for %d running task(s)",
            self.shutdown_timeout,
            len(self._in_flight),
        )
        while self._in_flight and not self.forced and time.monotonic() < deadline_s:
            if self._on_loop is not None:
                self._on_loop()
            self._take_outcomes(_BUSY_WAIT.total_seconds())
            self._collect()

    def _stop_pool_and_release(self) -> None:
        if self._in_flight and not self.forced:
            # Settle what already finished rather than releasing it to run a second time.
            try:
                self._outcomes.extend(self.pool.wait(0.0))
                self._collect()
            except Exception:
                logger.exception("could not settle finished tasks while stopping")
        unfinished = self.pool.stop(_POOL_STOP_TIMEOUT.total_seconds())
        unfinished += [job for job, _ in self._ahead.take_all()]  # never started
        # Outcomes that arrived while stopping still count; everything else goes back.
        release_unfinished(
            self.broker,
            self._settler,
            self.stats,
            self._in_flight.take_all(),
            {job.id for job in unfinished},
        )

    # --- claiming -------------------------------------------------------------------------
    def _claim_batch(self, count: int, has_outcomes: bool) -> None:
        """Claim up to ``count`` messages (recorded STARTED by the broker) and start them.

        Claims as many as the pool can start now, and while tasks are short a few more to
        start the moment a slot frees (worker.consumer.ahead). Messages that cannot run
        (undecodable, unknown task, expired, rate limited) are settled together right after.
        """
        busy = self._running() > 0
        if busy and not has_outcomes:
            self._take_outcomes(_SETTLE_FIRST_WAIT.total_seconds())
            if self.stopping:
                return  # asked to stop meanwhile: claim nothing more
            has_outcomes = bool(self._outcomes)
            if has_outcomes and self._combined:
                self._start_held()
                count = self.pool.free_slots() + self._ahead.wanted()
                if count > 0:
                    self._settle_and_claim(count)
                else:
                    self._collect()
                return
        # Finished tasks waiting, or running ones that may finish any moment: never block in
        # the broker then (Redis ends a blocking wait only at its next tick, ~100 ms, which
        # would delay every settlement); wait on the pool instead, below.
        timeout = timedelta(0) if has_outcomes or busy else self.claim_timeout
        deliveries = self.broker.claim_many(self.queues, self.name, self.lease, timeout, count)
        if not deliveries:
            if busy and not has_outcomes:
                # Returns the moment a task ends; a new message waits at most this long.
                self._take_outcomes(_BUSY_CLAIM_TIMEOUT.total_seconds())
            return
        self._start(deliveries)

    def _start(self, deliveries: list[Delivery]) -> None:
        """Start claimed deliveries in the free slots and hold the rest (claimed ahead);
        settle together the ones that cannot run."""
        self.stats.claimed += len(deliveries)
        free = self.pool.free_slots()
        refused: list[Pending] = []
        for delivery in deliveries:
            prepared = self._starter.prepare(delivery)
            if isinstance(prepared, Pending):
                refused.append(prepared)
            elif free > 0:
                self._starter.run(*prepared)
                free -= 1
            else:
                self._ahead.hold(*prepared)
        if refused:
            self._settler.settle(refused)

    def _settle_and_claim(self, count: int) -> None:
        """Settle the buffered outcomes and claim up to ``count`` more in one broker call.

        If the broker cannot be reached the settlements are kept and sent again with the next
        call: settling is idempotent (a claim already settled is no longer ours, so nothing
        of it applies twice), and retrying beats letting the leases lapse into a re-run.
        """
        pending, self._unsettled = self._unsettled + self._pending_outcomes(), []
        try:
            deliveries = self._settler.settle_and_claim(
                pending, self.queues, self.name, self.lease, count
            )
        except BrokerUnavailable:
            self._unsettled = pending
            raise
        self._start(deliveries)

    # --- settling -------------------------------------------------------------------------
    def _collect(self) -> None:
        """Settle the buffered outcomes in one broker call."""
        pending, self._unsettled = self._unsettled + self._pending_outcomes(), []
        if pending:
            try:
                self._settler.settle(pending)
            except BrokerUnavailable:
                self._unsettled = pending
                raise

    def _pending_outcomes(self) -> list[Pending]:
        """How to settle each buffered outcome (their jobs leave the in-flight table)."""
        # Progress first: a report must never overwrite the final state of its run.
        record_progress(self.pool.progress, self.broker, self._in_flight)
        outcomes, self._outcomes = self._outcomes, []
        pending: list[Pending] = []
        for outcome in outcomes:
            entry = self._in_flight.pop(outcome.job_id)
            if entry is None:
                logger.warning("outcome for unknown job %s ignored", outcome.job_id)
                continue
            done = Finished(entry, outcome, self._clock())
            settling = settle_finished(
                done, max_deliveries=self.max_deliveries, rng=self._rng, metrics=self.metrics
            )
            if settling is not None:
                pending.append(settling)
        return pending
