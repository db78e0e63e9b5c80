"""The beat daemon loop: the only place that wires config, state, planner and broker.

:class:`BeatService` starts a beat, runs its loop until a stop request, and applies config
reloads. It is built in layers, one module each: the parts and controls
(:mod:`beat.service_wiring`), leadership (:mod:`beat.service_leadership`) and the tick
(:mod:`beat.service_tick`). Signal handlers only set flags; the loop acts on them between ticks.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import cast

from beat.config import Config, load_config
from beat.config.model import ReadyHook
from beat.entries import Entry
from beat.errors import ConfigError
from beat.memory import gc_paused, release_free_memory
from beat.roster import Change
from beat.service_tick import TickLoop
from beat.sources import Delta
from taskqueue.urls import redact_url

# The loop's records keep the logger name they have always had (documented in docs/).
log = logging.getLogger("beat.service")


class BeatService(TickLoop):
    """Runs one beat: ``run()`` blocks until :meth:`request_stop`."""

    # --- start, run, stop -------------------------------------------------------------------
    def start(self) -> None:
        """Open the broker and the state, and index every entry. Raises on failure."""
        self.broker.ping()
        with gc_paused():  # every entry's state and index place: all kept (beat.memory)
            self._config_file.changed()
            # New entries' rows wait until the beat is ready (save_held_states).
            self.apply_config(self.config, self.clock(), starting=True)
            self._load_gate()
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
            self.roster.enabled_count(),
            redact_url(self.broker_url),
            redact_url(self.state_url),
        )

    def run(self, when_ready: Sequence[ReadyHook] = ()) -> None:
        from daemonkit import systemd

        self.start()
        # READY only now: the broker answered and the state is loaded (Type=notify units).
        systemd.ready(f"{len(self.entries)} entries")
        watchdog = systemd.Watchdog()
        self.elector.start()
        self.promoter.start()
        try:
            self.finish_start()
            for call in when_ready:  # work that must not delay READY (the start-up cache)
                call(self.entries)
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

    def finish_start(self) -> None:
        """What :meth:`start` leaves until the beat is ready, before its first tick: the held
        states (:meth:`save_held_states`), then the entries, schedules and states, which live
        as long as the process, moved out of the cyclic GC's generations, so a collection
        during a large burst does not walk them (a collection of 100,000 entries: 30 ms)."""
        self.save_held_states()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.promoter.stop()
        # The lease is released, not left to expire: a standby takes over at once.
        self.elector.stop(release=True)
        self.source.close()
        if self._store is not None:
            self._store.close()
        if self._broker is not None:
            self._broker.close()

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

    def apply_config(self, config: Config, now: datetime, *, starting: bool = False) -> None:
        """Index ``config``'s entries; unchanged entries keep their state and next fire.
        ``starting``: the first, at start-up, with the stored states (:meth:`Roster.start`)."""
        entries = self.source.entries(config, self.entries)
        if starting:
            with self.store.reading() as stored:
                change = self.roster.start(entries, stored, now)
            self._persist(change, hold=True)
        else:
            removed = [name for name in self.entries if name not in entries]
            self.apply_entries(entries, removed, now)
        del entries  # the loaded dict: the roster keeps its records, not these entries
        self.config = replace(config, entries=self._entries_as_config())
        self.dispatcher.prepare(*self.roster.enabled_specs())

    def apply_delta(self, delta: Delta, now: datetime) -> None:
        """Apply what the source reported between reloads, touching only the named entries."""
        self.apply_entries(delta.changed, delta.removed, now)
        # self.entries is the live merged view; Config is frozen, so swap in a new one.
        self.config = replace(self.config, entries=self._entries_as_config())

    def _entries_as_config(self) -> dict[str, Entry]:
        """The roster's entries (a read-only view) as the config's: the config would keep a
        second dict of every entry otherwise (issue 17). Config types them as the dict the
        loader builds; nothing writes to a running beat's config."""
        return cast("dict[str, Entry]", self.entries)

    def apply_entries(
        self, upserts: Mapping[str, Entry], removals: Sequence[str], now: datetime
    ) -> None:
        """The one way entries change (reload, SQL delta): the roster's rules, then persisted."""
        self.save_held_states()  # read from the roster as it is: before it changes again
        self._persist(self.roster.apply(upserts, removals, now))

    def _persist(self, change: Change, *, hold: bool = False) -> None:
        """What the roster changed, written to the store (and told the dispatcher). ``hold``
        (start-up): the states to persist are held for :meth:`save_held_states`."""
        if change.removed:
            self.dispatcher.forget(change.removed)
            self.store.forget(change.removed)
        if change.persist and hold:
            self._held_states = change.persist
        elif change.persist:
            self.store.upsert_new(change.persist)
        if self.metrics is not None:
            enabled = self.roster.enabled_count()
            self.metrics.set_entries(enabled, len(self.entries) - enabled)
