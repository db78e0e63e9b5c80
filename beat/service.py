"""The beat daemon loop: the only place that wires config, state, planner and broker.

Each tick pops the entries whose next fire is due from a heap (O(log n + due), not O(n)), asks
the pure planner what to send, dispatches, and sleeps until the next fire or the next config
check. Signal handlers only set flags; the loop acts on them between ticks.

High availability: only the holder of the leader lease dispatches (:mod:`beat.leader`, on its
own thread). A standby keeps its configuration current but skips ticks. On becoming leader it
reloads the run state from the store and re-indexes every entry (another leader may have
advanced them), then dispatches with the lease's fencing token, so a beat that lost the lease
without noticing (paused) is refused by the broker and goes back to standby.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from beat.config import Config, load_config
from beat.dispatch import Dispatcher, DispatchResult
from beat.due_index import DueIndex
from beat.entries import Entry, Overlap
from beat.errors import ConfigError, StateCorrupt, StateError
from beat.failure_pause import FailureWatch
from beat.leader import (
    DEFAULT_LEASE_TTL,
    LeaderElector,
    lease_broker_factory,
)
from beat.memory import release_free_memory
from beat.overlap import Buffered, OverlapGate, waited_on
from beat.pause_ahead import revoke_ahead
from beat.planner import Fire, RoundPlan, Skipped, plan_round
from beat.promotions import Promoter
from beat.roster import Roster
from beat.sources import Delta, EntrySource, open_source
from beat.state import EntryState, StateStore
from beat.watchers import ClockWatch, FileStamp, Outage
from daemonkit.signals import install_stop_and_hup
from taskqueue.broker import Broker
from taskqueue.errors import BrokerError, Fenced
from taskqueue.message import fire_id
from taskqueue.records import EncodedMessage
from taskqueue.urls import open_broker, redact_url

if TYPE_CHECKING:
    from daemonkit.metrics import BeatMetrics

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# The loop never sleeps longer than this, so a stop request or a config edit is seen promptly
# even when the next fire is hours away.
MAX_SLEEP = timedelta(seconds=1)
# Rounds of pop-and-dispatch per tick (see tick); bounds the work of one tick.
MAX_ROUNDS = 100
# Fires are enqueued this long before their instant unless configured otherwise (README).
DEFAULT_LOOKAHEAD = timedelta(seconds=3)


def utc_now() -> datetime:
    return datetime.now(UTC)


class BeatService:
    """Runs one beat: ``run()`` blocks until :meth:`request_stop`."""

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
    def entries(self) -> dict[str, Entry]:
        return self.roster.entries

    @property
    def states(self) -> dict[str, EntryState]:
        return self.roster.states

    @property
    def index(self) -> DueIndex:
        return self.roster.index

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(self.state_url)
        return self._store

    # --- the loop ---------------------------------------------------------------------------
    def start(self) -> None:
        """Open the broker and the state, and index every entry. Raises on failure."""
        self.broker.ping()
        self.roster.load_states(self.store.load())
        self._config_file.changed()
        self.apply_config(self.config, self.clock())
        self._load_gate()
        # Entries, schedules and states live as long as the process: move them out of the
        # cyclic GC's generations so a collection during a large burst does not walk them.
        gc.collect()
        gc.freeze()
        release_free_memory()
        if self.metrics is not None:
            self.metrics.set_leader(False)
        # One attempt now, so a lone beat leads from its first tick (the elector's thread,
        # started by run(), keeps it); the state was just loaded, so no reload is needed.
        self.elector.step()
        token = self.elector.token
        if token is not None:
            self._lead(token)
        log.info(
            "beat started: %d entries (%d enabled), broker %s, state %s",
            len(self.entries),
            sum(e.enabled for e in self.entries.values()),
            redact_url(self.broker_url),
            redact_url(self.state_url),
        )

    def run(self) -> None:
        from daemonkit import systemd

        self.start()
        # READY only now: the broker answered and the state is loaded (Type=notify units).
        systemd.ready(f"{len(self.entries)} entries")
        watchdog = systemd.Watchdog()
        self.elector.start()
        self.promoter.start()
        try:
            while not self._stop.is_set():
                self.maybe_reload()
                self.tick()
                # Pinged from the loop itself: a stuck loop stops pinging and systemd restarts
                # it. A broker outage keeps the loop alive (it backs off), so pings go on.
                watchdog.healthy()
                self._sleep()
        finally:
            systemd.stopping()
            self.close()
            log.info("beat stopped (%d fires sent)", self.stats_sent)

    def close(self) -> None:
        self.promoter.stop()
        # The lease is released, not left to expire: a standby takes over at once.
        self.elector.stop(release=True)
        self.source.close()
        if self._store is not None:
            self._store.close()
        if self._broker is not None:
            self._broker.close()

    # --- leadership -------------------------------------------------------------------------
    @property
    def leading(self) -> bool:
        return self._leading_token is not None

    def follow_lease(self) -> bool:
        """Act on the elector's view; True if this beat leads (and may dispatch) now."""
        token = self.elector.token
        if token == self._leading_token:
            return token is not None
        if token is None:
            self._stand_by(self.elector.lost_reason or "the lease was lost")
            return False
        try:
            self._adopt_shared_state(self.clock())
        except StateCorrupt:
            raise  # not transient: the daemon stops with this one error
        except StateError as e:
            # Cannot lead without the current state; retry on the next loop.
            log.error("leader: acquired the lease but cannot load the state: %s", e)
            self._stop.wait(self._outage.next_delay().total_seconds())
            return False
        self._lead(token)
        return True

    def _lead(self, token: int) -> None:
        self._leading_token = token
        log.info("leader: acquired lease token=%d (%s)", token, self.elector.owner)
        if self.metrics is not None:
            self.metrics.set_leader(True)

    def _stand_by(self, reason: str) -> None:
        if self._leading_token is None:
            return
        self._leading_token = None
        log.warning("leader: lost lease, standing by (%s)", reason)
        if self.metrics is not None:
            self.metrics.set_leader(False)

    def _adopt_shared_state(self, now: datetime) -> None:
        """Reload every entry's state from the store and rebuild the due index from it: while
        this beat stood by, another leader advanced the entries it dispatched."""
        persist = self.roster.rebuild(self.store.load(), now)
        if persist:
            self.store.upsert_new(persist)
        self._load_gate()

    def _load_gate(self) -> None:
        """The overlap gate from the fire log: the last fire each gated entry sent, and the
        fire that waits (another leader may have sent or buffered them)."""
        names = [
            n
            for n, e in self.entries.items()
            if e.overlap is not Overlap.ALLOW or e.pause_on_failure
        ]
        newest, waiting = self.store.overlap_memory(names)
        self.failures.load(
            {n: fire_id(n, when) for n, when in newest.items() if self.entries[n].pause_on_failure}
        )
        self.gate.load(
            {name: fire_id(name, when) for name, when in newest.items()},
            {
                name: Buffered(Fire(name, r.scheduled_for, r.fire_id), waited_on(r.reason))
                for name, r in waiting.items()
            },
        )

    def _sleep(self) -> None:
        if self._stop.is_set():
            return
        now = self.clock()
        wait = MAX_SLEEP
        nxt = self.index.peek() if self.leading else None
        if nxt is not None:
            wait = max(timedelta(0), min(wait, nxt - self.lookahead - now))
        held = self.gate.next_held() if self.leading else None
        if held is not None:  # a gated fire is decided at its instant (beat.overlap)
            wait = max(timedelta(0), min(wait, held - now))
        self._wake.wait(wait.total_seconds())
        self._wake.clear()

    def tick(self) -> int:
        """Dispatch everything due up to now + lookahead; return how many fires were sent.
        A standby sends nothing."""
        self._clock_watch.check(self.clock())  # a standby's clock too: it may lead next
        # Before the next push: these fires' instant is now (a standby too: it pushed them).
        self._promote_due()
        if not self.follow_lease():
            return 0
        now = self.clock()
        if not self._follow_pauses(now) or not self._pause_failed(now):
            return 0
        self._follow_backfills()
        horizon = now + self.lookahead
        sent = 0
        # An entry whose following fire is also within the horizon (say `every: 500ms` with a
        # 1 s lookahead) is re-indexed and popped again by the next round.
        for round_no in range(MAX_ROUNDS):
            due = self.index.pop_due(horizon)
            if round_no == 0:  # the gated fires held until their instant (beat.overlap)
                due = self.gate.release(now, self._reindexed) + due
            due = self.gate.admit(due, self.entries, now, self.broker.get_statuses)
            if not due and not (round_no == 0 and self.gate.buffered):
                break
            result = self._dispatch_due(due, now, horizon)
            if result is None:
                break
            sent += result
        return sent

    def _follow_pauses(self, now: datetime) -> bool:
        """Read the pauses from the run state (``beat pause`` from any host takes effect on the
        next tick, without a reload); False when the store cannot be read (backing off)."""
        was = set(self.roster.paused)
        try:
            persist = self.roster.set_pauses(self.store.load_pauses(), now)
            if persist:
                self.store.upsert_new(persist)
        except StateCorrupt:
            raise  # not transient: the daemon stops with this one error
        except StateError as e:
            self._outage.failed(e)
            self._stop.wait(self._outage.next_delay().total_seconds())
            return False
        paused = self.roster.paused.keys() - was
        revoke_ahead(self.broker, paused, self.roster.schedule, self.states, now)
        return True

    def _follow_backfills(self) -> None:
        """The fires ``beat backfill`` sent, for the overlap gate (one indexed read a tick)."""
        try:
            self.gate.follow_backfills(self.store.backfills_since, self.entries)
        except StateError as e:  # read again on the next tick; the dispatch backs off
            log.warning("overlap: cannot read the backfilled fires: %s", e)

    def _pause_failed(self, now: datetime) -> bool:
        """Pause the ``pause_on_failure`` entries whose watched fire failed (one pipelined
        state read), then follow the pauses at once; False when the store cannot be read. A
        pause that cannot be saved is tried again on the next tick."""
        if not self.failures.pending and not self.failures.unsaved:
            return True
        try:
            for failure in self.failures.check(self.broker.get_statuses):
                log.warning(
                    "entry %s paused: %s",
                    failure.entry,
                    failure.note,
                    extra={"entry": failure.entry, "task_id": failure.task_id},
                )
        except BrokerError as e:  # the dispatch that follows meets it too, and backs off
            log.warning("pause_on_failure: cannot read task states: %s", e)
        saved = 0
        for failure in list(self.failures.unsaved):
            try:
                self.store.set_pause(failure.entry, True, failure.note, now)
            except StateCorrupt:
                raise  # not transient: the daemon stops with this one error
            except StateError as e:  # the others would wait out the same lock or outage
                log.error(
                    "entry %s: cannot record its pause (retried next tick): %s", failure.entry, e
                )
                break
            self.failures.unsaved.remove(failure)
            saved += 1
        return not saved or self._follow_pauses(now)

    def _dispatch_due(
        self, due: list[tuple[str, datetime]], now: datetime, horizon: datetime
    ) -> int | None:
        """Plan, push and record one round; None when the push failed (the round is put back
        in the index, or this beat stands by)."""
        plan = plan_round(due, self.entries, self.states, now, horizon)
        result = self._push(plan, due, now)
        if result is None:
            return None
        self._log_skipped(plan.skipped)
        self.gate.sent(plan.fires, self.entries)
        self.failures.sent(plan.fires, self.entries)
        self._count(result, now)
        for name, last in plan.advanced.items():
            self.roster.fired(name, last, now)
        for name, nxt in plan.next_fires.items():
            if nxt is None:
                nxt = self.roster.schedule(name).next_after(plan.advanced[name])
            if nxt is not None:
                self.index.push(name, nxt)
        return result.sent

    def _reindexed(self, name: str) -> bool:
        """Whether a held fire of ``name`` is stale: the entry was indexed again or paused."""
        return name in self.index or name in self.roster.paused

    def _log_skipped(self, skipped: Sequence[Skipped]) -> None:
        for s in skipped:
            log.warning(
                "entry %s: skipped %d missed fire(s) from %s to %s (%s)",
                s.entry,
                s.count,
                s.first.isoformat(),
                s.last.isoformat(),
                s.reason,
                extra={"entry": s.entry, "skipped": s.count},
            )
            if self.metrics is not None:
                self.metrics.fires_skipped(s.count)

    def _push(
        self, plan: RoundPlan, due: list[tuple[str, datetime]], now: datetime
    ) -> DispatchResult | None:
        """Enqueue the round's fires and record what it disposed of (sent or skipped)."""
        assert self._leading_token is not None, "tick() runs only while leading"
        fence = (self.elector.name, self._leading_token)
        try:
            # One pipelined task-state read for the round's gated entries (beat.overlap).
            notes = self.gate.apply(plan, self.entries, self.broker.get_statuses, now)
            result = self.dispatcher.dispatch(
                self.broker,
                self.store,
                self.entries,
                plan.fires,
                now,
                fence=fence,
                skipped=plan.skipped,
                notes=notes,
                after_batch=self._after_batch,
            )
        except Fenced as e:
            # Another beat holds the lease: what it sends, it sends from the shared state.
            self.elector.relinquish(f"fenced by the broker: {e}")
            self._stand_by(f"fenced by the broker: {e}")
            return None
        except StateCorrupt:
            raise  # not transient: the daemon stops with this one error
        except (BrokerError, StateError) as e:
            self._outage.failed(e)
            if self.metrics is not None:
                self.metrics.dispatch_error()
            # In-memory state is untouched: put every due entry back as it was (and the
            # buffered fires the round released). Re-planning repeats only fires the broker
            # will refuse as duplicates.
            self.gate.restore()
            for name, when in due:
                self.index.push(name, when)
            self._stop.wait(self._outage.next_delay().total_seconds())
            return None
        self._outage.recovered()
        return result

    def _after_batch(self, items: Sequence[EncodedMessage]) -> None:
        """Between the batches of a push: remember what to promote when, and promote what is
        due already (a push can run past the instant of its first fires)."""
        self.promoter.expect(items)
        self._promote_due()

    def _promote_due(self) -> None:
        if self.promoter.next_at() is not None:
            self.promoter.run_due()

    def _count(self, result: DispatchResult, now: datetime) -> None:
        self.stats_sent += result.sent
        self.stats_duplicates += result.duplicates
        if self.metrics is None:
            return
        # Lateness of what was enqueued ahead (lookahead) is 0: it waits for its instant.
        # Only what the broker accepted: duplicates and failed fires are not "sent".
        self.metrics.fires_sent(
            [max(0.0, (now - f.scheduled_for).total_seconds()) for f in result.sent_fires]
        )
        if result.duplicates:
            self.metrics.fire_duplicate(result.duplicates)
        if result.failed:
            self.metrics.fire_failed(result.failed)

    # --- configuration ----------------------------------------------------------------------
    def maybe_reload(self) -> None:
        delta = self.source.poll(time.monotonic())
        if delta:
            self.apply_delta(delta, self.clock())
        if not (self._reload_requested or self._config_file.changed()):
            return
        forced = self._reload_requested
        self._reload_requested = False
        try:
            config = load_config(self.config.path)
        except ConfigError as e:
            for problem in e.problems:
                log.error(
                    "config reload%s rejected, keeping the last valid one: %s",
                    " (SIGHUP)" if forced else "",
                    problem,
                )
            return
        if config.broker_url != self.config.broker_url:
            log.warning("config: a broker change takes effect at the next restart")
        self.apply_config(config, self.clock())
        log.info("config reloaded%s: %d entries", " (SIGHUP)" if forced else "", len(self.entries))

    def apply_config(self, config: Config, now: datetime) -> None:
        """Index ``config``'s entries; unchanged entries keep their state and next fire."""
        entries = self.source.entries(config)
        removed = [name for name in self.entries if name not in entries]
        self.apply_entries(entries, removed, now)
        # The roster's dict, not ``entries``: one dict of every entry is kept, not two.
        self.config = replace(config, entries=self.entries)
        self.dispatcher.prepare(e for e in self.entries.values() if e.enabled)

    def apply_delta(self, delta: Delta, now: datetime) -> None:
        """Apply what the source reported between reloads, touching only the named entries."""
        self.apply_entries(delta.changed, delta.removed, now)
        # self.entries is the live merged view; Config is frozen, so swap in a new one.
        self.config = replace(self.config, entries=self.entries)

    def apply_entries(
        self, upserts: Mapping[str, Entry], removals: Sequence[str], now: datetime
    ) -> None:
        """The one way entries change (reload, SQL delta): the roster's rules, then persisted."""
        change = self.roster.apply(upserts, removals, now)
        if change.removed:
            self.dispatcher.forget(change.removed)
            self.store.forget(change.removed)
        if change.persist:
            self.store.upsert_new(change.persist)
        if self.metrics is not None:
            enabled = self.roster.enabled_count()
            self.metrics.set_entries(enabled, len(self.entries) - enabled)
