"""What a beat is made of: its configuration, broker, run state, roster, overlap gate, elector
and metrics, wired once (:class:`ServiceWiring`), and the controls that are safe from signal
handlers and other threads. The loop itself builds on it: :mod:`beat.service_leadership`,
:mod:`beat.service_tick`, :mod:`beat.service`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from beat.config import Config
from beat.dispatch import Dispatcher
from beat.due_index import DueIndex
from beat.early_push import EarlyPush
from beat.failure_pause import FailureWatch
from beat.leader import (
    DEFAULT_LEASE_TTL,
    LeaderElector,
    lease_broker_factory,
)
from beat.overlap import OverlapGate
from beat.promotions import Promoter
from beat.records import EntriesView, StatesView
from beat.roster import Roster
from beat.sources import EntrySource, open_source
from beat.state import StateStore
from beat.state_rows import EntryState
from beat.watchers import ClockWatch, FileStamp, Outage
from daemonkit.signals import install_stop_and_hup
from taskqueue.broker import Broker
from taskqueue.urls import open_broker

if TYPE_CHECKING:
    from daemonkit.metrics import BeatMetrics

# The loop's records keep the logger name they have always had (documented in docs/).
log = logging.getLogger("beat.service")

Clock = Callable[[], datetime]

# Fires are enqueued this long before their instant unless configured otherwise (README).
DEFAULT_LOOKAHEAD = timedelta(seconds=3)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ServiceWiring:
    """The parts of one beat and its controls; :class:`beat.service.BeatService` runs them."""

    def __init__(
        self,
        config: Config,
        state_url: str,
        *,
        broker: Broker | None = None,
        broker_url: str | None = None,
        clock: Clock = utc_now,
        lookahead: timedelta = DEFAULT_LOOKAHEAD,
        metrics: BeatMetrics | None = None,
        elector: LeaderElector | None = None,
        lease_ttl: timedelta = DEFAULT_LEASE_TTL,
        source: EntrySource | None = None,
    ) -> None:
        self.config = config
        # Where the entries come from: the YAML file, or the file plus a SQL table.
        self.source = source if source is not None else open_source(config)
        self.broker_url = broker_url or config.broker_url
        self._broker = broker
        self.state_url = state_url
        self.clock = clock
        # Fires due within `lookahead` are enqueued early with their scheduled instant as eta,
        # so a large burst is in the broker (delayed) by the instant itself.
        self.lookahead = lookahead
        # ... and a burst too large to push within it, earlier (beat.early_push).
        self.early = EarlyPush(lookahead)
        # ... and made claimable at the instant by this beat, not by workers' claims.
        self.promoter = Promoter(lambda queue: self.broker.promote_due(queue), clock)
        self.roster = Roster()
        self.dispatcher = Dispatcher()
        self.gate = OverlapGate()
        self.failures = FailureWatch()
        self.metrics = metrics
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._config_file = FileStamp(config.path)
        self._store: StateStore | None = None
        # States to persist that start-up held back (see save_held_states).
        self._held_states: Sequence[EntryState] | None = None
        self.stats_sent = 0
        self._outage = Outage()
        self.stats_duplicates = 0
        # HA is always on: a single beat simply holds the lease. The lease must live in the
        # broker the fires go to (fencing is checked there); an injected broker is shared.
        if elector is None:
            shared = broker
            elector = LeaderElector(
                (lambda: shared)
                if shared is not None
                else lease_broker_factory(self.broker_url, lease_ttl),
                ttl=lease_ttl,
                on_change=self._wake.set,
                close_broker=shared is None,
            )
        self.elector = elector
        # The fencing token this loop dispatches under: the one it reloaded the state for.
        self._leading_token: int | None = None
        # The last tick's wall clock and monotonic clock, to notice the wall clock stepping.
        self._clock_watch = ClockWatch()

    # --- control (safe from signal handlers and other threads) ------------------------------
    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        def on_stop(signum: signal.Signals) -> None:
            log.info("received %s: stopping after the current dispatch", signum.name)
            self.request_stop()

        install_stop_and_hup(on_stop, self.request_reload)

    @property
    def broker(self) -> Broker:
        if self._broker is None:
            self._broker = open_broker(self.broker_url)
        return self._broker

    @property
    def entries(self) -> EntriesView:
        return self.roster.entries

    @property
    def states(self) -> StatesView:
        return self.roster.states

    @property
    def index(self) -> DueIndex:
        return self.roster.index

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(self.state_url)
        return self._store

    def save_held_states(self) -> None:
        """Persist the states :meth:`beat.service.BeatService.start` held: its new entries'
        rows (100,000 at a first start: a tenth of the way to ready, issue 17). Once the beat
        is ready, before anything else changes the roster or writes the store (the held states
        are read from the roster as it is then), so before the first tick, whose fires are
        recorded on those rows. A beat killed before then has sent nothing and stored nothing
        of them: the next start finds them new again, as if this one had never started."""
        held = self._held_states
        if held is not None:
            self.store.upsert_new(held)  # one transaction: all of them or none
            self._held_states = None
