"""Broker trouble as the consumer reports it: one line when it starts and one when it ends.

Two kinds, both retried for ever with capped backoff (a worker outlives a broker restart, and
a store someone repairs):

- :class:`~taskqueue.errors.BrokerUnavailable`: the broker cannot be reached;
- :class:`~taskqueue.errors.BrokerDataError`: a key of the wrong type, garbage in the store.
  No retry fixes it until someone repairs the store, so it is logged once (until it changes or
  goes away), never as a crash loop. The lease keeper thread reports it here too.
"""

from __future__ import annotations

import logging
import threading

from taskqueue.errors import BrokerDataError, BrokerUnavailable

logger = logging.getLogger(__name__)

# The longest pause between two attempts while the broker is down or its data unusable.
_BACKOFF_MAX_S = 5.0


def outage_delay_s(failures: int) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row (doubling, capped)."""
    return min(_BACKOFF_MAX_S, 0.1 * 2.0 ** min(failures, 10))


class BrokerHealth:
    """Counts failed loop iterations and logs each outage or data error once."""

    def __init__(self, consumer_name: str) -> None:
        self._name = consumer_name
        self.failures = 0
        self._lock = threading.Lock()
        # The last BrokerDataError logged (by the loop or the lease keeper): the same one is
        # logged once, not on every retry.
        self._data_error: str | None = None

    def report_data_error(self, error: BrokerDataError) -> None:
        """Log a broker data error once (until it changes or goes away). Thread-safe."""
        text = str(error)
        with self._lock:
            if text == self._data_error:
                logger.debug("broker data still unusable: %s", text)
                return
            self._data_error = text
        logger.error("consumer %s: %s; retrying with backoff", self._name, text)

    def data_failed(self, error: BrokerDataError) -> float:
        """A loop iteration hit bad data: report it; returns the seconds to back off."""
        self.failures += 1
        self.report_data_error(error)
        return outage_delay_s(self.failures)

    def unreachable(self, error: BrokerUnavailable) -> float:
        """A loop iteration could not reach the broker; returns the seconds to back off."""
        self.failures += 1
        if self.failures == 1:
            logger.error("consumer %s: broker unreachable, retrying: %s", self._name, error)
        else:
            logger.debug("broker still unreachable (%d): %s", self.failures, error)
        return outage_delay_s(self.failures)

    def succeeded(self) -> None:
        """A loop iteration went through: end whatever outage was reported."""
        with self._lock:
            had_data_error, self._data_error = self._data_error is not None, None
        if self.failures and not had_data_error:
            logger.warning(
                "consumer %s: broker reachable again after %d failed attempt(s)",
                self._name,
                self.failures,
            )
        if had_data_error:
            logger.warning("consumer %s: the broker's data is usable again", self._name)
        self.failures = 0
