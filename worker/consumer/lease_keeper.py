"""The lease keeper thread: renews every in-flight lease, heartbeats (the queue consumer and
the worker's record), recovers expired leases.

It runs on its own timer so that a busy or blocked consumer loop never lets a live task's lease
run out. It uses its own broker connection when given one (the SQLite broker's connection must
not be shared between threads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from taskqueue.broker import Broker
from taskqueue.errors import BrokerDataError, BrokerUnavailable
from worker.consumer.in_flight import InFlightTable
from worker.consumer.outages import BrokerHealth
from worker.consumer.presence import WorkerIdentity

logger = logging.getLogger(__name__)

# The shortest renewal period, whatever the lease.
_MIN_INTERVAL = timedelta(milliseconds=50)
# How often the broker is asked whether a running task was revoked with terminate: the
# longest a terminated task runs on after ``beat revoke --terminate``.
REVOKE_POLL = timedelta(seconds=1)
# A heartbeat outlives three missed beats, and never less than this.
_MIN_HEARTBEAT_TTL = timedelta(seconds=5)


class LeaseKeeper(threading.Thread):
    """Renews the leases of ``in_flight`` at ``lease / 3`` until stopped."""

    def __init__(
        self,
        *,
        consumer_name: str,
        queues: Sequence[str],
        broker: Broker,
        in_flight: InFlightTable,
        lease: timedelta,
        heartbeat_interval: timedelta,
        health: BrokerHealth,
        identity: WorkerIdentity | None = None,
    ) -> None:
        super().__init__(name=f"lease-keeper:{consumer_name}", daemon=True)
        self._name = consumer_name
        self._queues = list(queues)
        self._broker = broker
        self._in_flight = in_flight
        self._lease = lease
        self._heartbeat_interval = heartbeat_interval
        self._health = health
        self._identity = identity
        self._stop_event = threading.Event()
        self._last_heartbeat_s = 0.0
        self._last_renewal_s = 0.0
        self._last_revoke_poll_s = 0.0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        interval = max(self._lease / 3, _MIN_INTERVAL)
        interval_s = interval.total_seconds()
        # Each duty has its own period; the thread wakes for the shortest.
        step_s = min(
            interval_s, self._heartbeat_interval.total_seconds(), REVOKE_POLL.total_seconds()
        )
        failing = False
        while not self._stop_event.is_set():
            try:
                self._tick(time.monotonic(), interval_s)
                if failing:
                    logger.warning("lease keeper: broker reachable again")
                    failing = False
            except BrokerDataError as e:
                # Garbage in the store: reported once (the loop hits it too); not a bug here.
                self._health.report_data_error(e)
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
            self._stop_event.wait(step_s)

    def _tick(self, now_s: float, interval_s: float) -> None:
        if now_s - self._last_renewal_s >= interval_s:
            self._renew_all()
            # Not while the loop has yet to get through after an outage: the settlements it
            # holds (sent first when it does) are of claims whose leases may have run out
            # meanwhile (a failover longer than the lease), and recovering those would run
            # them again.
            if not self._health.failures:
                recovered = self._broker.recover_expired()
                if recovered:
                    logger.warning("recovered %d message(s) whose lease ran out", recovered)
            self._last_renewal_s = now_s
        if now_s - self._last_heartbeat_s >= self._heartbeat_interval.total_seconds():
            ttl = max(self._heartbeat_interval * 3, _MIN_HEARTBEAT_TTL)
            self._broker.heartbeat(self._name, self._queues, ttl)
            if self._identity is not None:
                record = self._identity.record(self._name, self._queues, self._in_flight)
                self._broker.publish_worker(record, ttl)
            self._last_heartbeat_s = now_s
        if now_s - self._last_revoke_poll_s >= REVOKE_POLL.total_seconds():
            self._poll_terminations()
            self._last_revoke_poll_s = now_s

    def _poll_terminations(self) -> None:
        """Mark running tasks revoked with terminate; the consumer loop stops them."""
        ids = [entry.message.id for _, entry in self._in_flight.snapshot() if not entry.lost]
        if ids:
            revoked = self._broker.terminations(ids)
            if revoked:
                self._in_flight.mark_terminate(revoked)

    def _renew_all(self) -> None:
        for job_id, entry in self._in_flight.snapshot():
            if entry.lost:
                continue
            renewed = self._broker.extend(entry.delivery, self._lease)
            self._in_flight.lease_renewed(job_id, renewed)
