"""The leader lease: which of several beats dispatches (SPEC 6, high availability).

The lease lives in the broker, next to the messages (``LeaderLease.acquire_lease`` and friends), so
the fencing token can be checked in the same atomic step as each push: a leader that was
paused past its lease (GC, SIGSTOP, a VM migration) and wakes up still believing it leads is
refused by the broker (:class:`~taskqueue.errors.Fenced`) instead of publishing.

:class:`LeaderElector` keeps the lease on its own thread and its own broker connection, so a
long dispatch never delays a renewal, and renews every ``ttl / 3``. It reports the lease lost
*before* the broker lets it lapse (``is_leader`` turns False at ``LOCAL_SHARE`` of the ttl
after the last successful renewal began), so the daemon stops dispatching while the lease is
still its own; fencing covers whatever slips past that (a pause in the middle of a push).

A standby tries to take the lease when the holder's expires, so a standby takes over at most
one ttl after the leader died.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from beat.lease_name import DEFAULT_LEASE_NAME as DEFAULT_LEASE_NAME
from taskqueue.errors import BrokerError
from taskqueue.redis_url import is_redis_url

if TYPE_CHECKING:
    from taskqueue.broker import LeaderLease
    from taskqueue.records import Fence

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = timedelta(seconds=5)
# is_leader holds for this share of the ttl after a successful renewal *began*: the rest is
# slack for clock-rate drift and for the time the renewal took to reach the broker (as
# Redlock's drift allowance), so this beat stops dispatching before the broker frees the lease.
LOCAL_SHARE = 0.8
# A standby retries at least this often, and never more often than MIN_POLL.
RENEWALS_PER_TTL = 3
MIN_POLL = timedelta(milliseconds=10)
# A standby wakes this long after the holder's lease should have run out, to find it free.
EXPIRY_SLACK = timedelta(milliseconds=5)

BrokerFactory = Callable[[], "LeaderLease"]


def default_owner() -> str:
    """``host:pid:random``: unique per process, readable in ``beat list``."""
    import socket  # here: `beat list` imports this module for the lease name only

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_broker_factory(url: str, ttl: timedelta) -> BrokerFactory:
    """A factory for the elector's own broker connection, with timeouts well inside ``ttl``:
    a renewal stuck for longer than the lease is worth nothing."""
    timeout = max(ttl / RENEWALS_PER_TTL, timedelta(milliseconds=200))

    def open_() -> LeaderLease:
        if is_redis_url(url):
            from taskqueue.redis import RedisBroker

            return RedisBroker(url, socket_timeout=timeout)
        if url.startswith("sqlite:"):
            from taskqueue.sqlite import SQLiteBroker

            return SQLiteBroker(url, busy_timeout=timeout)
        from taskqueue.urls import open_broker

        return open_broker(url)

    return open_


class LeaderElector:
    """Holds lease ``name`` for this process whenever it can; ``start()`` runs it on a thread.

    ``is_leader`` and ``token`` are safe to read from any thread. ``on_change`` is called (on
    the elector's thread) whenever leadership is gained or lost, e.g. to wake the daemon loop.
    """

    def __init__(
        self,
        broker_factory: BrokerFactory,
        *,
        name: str = DEFAULT_LEASE_NAME,
        owner: str | None = None,
        ttl: timedelta = DEFAULT_LEASE_TTL,
        on_change: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        close_broker: bool = True,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"leader lease ttl {ttl}: must be positive")
        self.name = name
        self.owner = owner or default_owner()
        self.ttl = ttl
        self._factory = broker_factory
        self._on_change = on_change
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: int | None = None
        self._valid_until = 0.0  # monotonic seconds; is_leader only before this
        self._lost_reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker: LeaderLease | None = None
        self._failing = False
        self._close_broker = close_broker  # False: the factory hands out a shared broker

    # --- what the daemon reads ----------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        with self._lock:
            return self._token is not None and self._monotonic() < self._valid_until

    @property
    def token(self) -> int | None:
        """The fencing token while leading, else None."""
        with self._lock:
            if self._token is not None and self._monotonic() < self._valid_until:
                return self._token
            return None

    @property
    def fence(self) -> Fence | None:
        token = self.token
        return None if token is None else (self.name, token)

    @property
    def lost_reason(self) -> str | None:
        """Why leadership was last lost (for the daemon's log line)."""
        with self._lock:
            if self._token is not None and self._monotonic() >= self._valid_until:
                return "the lease could not be renewed in time"
            return self._lost_reason

    def relinquish(self, reason: str) -> None:
        """Stop leading now (the broker refused our token: another beat leads)."""
        with self._lock:
            if self._token is None:
                return
            self._token = None
            self._lost_reason = reason
        self._changed()

    # --- the thread ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="beat-leader", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True, timeout: float = 5.0) -> None:
        """Stop renewing; release the lease (a standby takes over at once) if ``release``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            token, self._token = self._token, None
        if self._broker is not None:
            try:
                if release and token is not None:
                    self._broker.release_lease(self.name, self.owner, token)
            except BrokerError as e:
                log.warning("leader: could not release the lease (it will expire): %s", e)
            finally:
                if self._close_broker:
                    self._broker.close()
                self._broker = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._monotonic()
            pause = self.step()
            elapsed = self._monotonic() - started
            self._stop.wait(max(MIN_POLL.total_seconds(), pause - elapsed))

    def step(self) -> float:
        """One acquire (standby) or renewal (leader); seconds until the next one is due."""
        started = self._monotonic()
        period_s = self.ttl.total_seconds() / RENEWALS_PER_TTL
        try:
            if self._broker is None:
                self._broker = self._factory()
            with self._lock:
                token = self._token
            if token is None:
                return self._try_acquire(self._broker, started, period_s)
            self._renew(self._broker, token, started)
        except BrokerError as e:
            self._failed(e)
        except Exception:  # never let the elector thread die: it would freeze leadership
            log.exception("leader: unexpected error in the lease thread")
        return period_s

    def _try_acquire(self, broker: LeaderLease, started: float, period_s: float) -> float:
        token = broker.acquire_lease(self.name, self.owner, self.ttl)
        self._recovered()
        if token is not None:
            with self._lock:
                self._token = token
                self._valid_until = started + LOCAL_SHARE * self.ttl.total_seconds()
                self._lost_reason = None
            self._changed()
            return period_s
        # Held by another beat: come back just after it would run out (if its holder died),
        # but no later than one period (it may be released early on a clean shutdown).
        holder = broker.lease_holder(self.name)
        if holder is None:
            return MIN_POLL.total_seconds()
        left = holder.expires_at - datetime.now(UTC) + EXPIRY_SLACK
        return max(MIN_POLL.total_seconds(), min(period_s, left.total_seconds()))

    def _renew(self, broker: LeaderLease, token: int, started: float) -> None:
        renewed = broker.renew_lease(self.name, self.owner, token, self.ttl)
        self._recovered()
        with self._lock:
            if self._token != token:  # relinquished meanwhile
                return
            if renewed:
                self._valid_until = started + LOCAL_SHARE * self.ttl.total_seconds()
                return
            self._token = None
            self._lost_reason = "the lease lapsed or another beat took it"
        self._changed()

    def _failed(self, error: BrokerError) -> None:
        # One line per outage, not one per retry.
        if not self._failing:
            log.warning("leader: lease %r: broker error, retrying: %s", self.name, error)
            self._failing = True
        with self._lock:
            lapsed = self._token is not None and self._monotonic() >= self._valid_until
            if lapsed:
                self._token = None
                self._lost_reason = f"the lease could not be renewed ({error})"
        if lapsed:
            self._changed()

    def _recovered(self) -> None:
        if self._failing:
            log.warning("leader: lease %r: broker reachable again", self.name)
            self._failing = False

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
