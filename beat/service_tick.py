"""The tick: each pops the entries whose next fire is due from a heap (O(log n + due), not
O(n)), asks the pure planner what to send, dispatches, and sleeps until the next fire or the
next config check. Only the leader dispatches (:mod:`beat.service_leadership`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from beat.dispatch import DispatchResult
from beat.errors import StateCorrupt, StateError
from beat.pause_ahead import revoke_ahead
from beat.planner import RoundPlan, Skipped, plan_round
from beat.service_leadership import Leadership
from taskqueue.errors import BrokerError, Fenced
from taskqueue.records import EncodedMessage

# The loop's records keep the logger name they have always had (documented in docs/).
log = logging.getLogger("beat.service")

# The loop never sleeps longer than this, so a stop request or a config edit is seen promptly
# even when the next fire is hours away.
MAX_SLEEP = timedelta(seconds=1)
# Rounds of pop-and-dispatch per tick (see tick); bounds the work of one tick.
MAX_ROUNDS = 100


class TickLoop(Leadership):
    """One tick of the loop and the sleep between ticks."""

    def _sleep(self) -> None:
        if self._stop.is_set():
            return
        now = self.clock()
        wait = MAX_SLEEP
        # The next push: the lookahead before the next fire, or earlier for a large burst.
        nxt = self.early.plan(self.index, now)[1] if self.leading else None
        if nxt is not None:
            wait = max(timedelta(0), min(wait, nxt - now))
        held = self.gate.next_held() if self.leading else None
        if held is not None:  # a gated fire is decided at its instant (beat.overlap)
            wait = max(timedelta(0), min(wait, held - now))
        self._wake.wait(wait.total_seconds())
        self._wake.clear()

    def tick(self) -> int:
        """Dispatch everything due up to now + lookahead, and a large burst earlier
        (:mod:`beat.early_push`); return how many fires were sent. A standby sends nothing."""
        self.save_held_states()  # run() did, unless the caller ticks without it
        self._clock_watch.check(self.clock())  # a standby's clock too: it may lead next
        # Before the next push: these fires' instant is now (a standby too: it pushed them).
        self._promote_due()
        if not self.follow_lease():
            return 0
        now = self.clock()
        if not self._follow_pauses(now) or not self._pause_failed(now):
            return 0
        self._follow_backfills()
        sent = 0
        # An entry whose following fire is also within the horizon (say `every: 500ms` with a
        # 1 s lookahead) is re-indexed and popped again by the next round. The horizon is
        # decided per round: a burst pushed early takes along the instants before it, once.
        for round_no in range(MAX_ROUNDS):
            if round_no:
                # A round can take long (a million fires, a slow Redis): the next is judged by
                # the clock as it is now, or a fire late past its grace would count as on time.
                now = self.clock()
            horizon = self.early.plan(self.index, now)[0]
            # The gated fires held until their instant (beat.overlap), released before the
            # index is popped: one whose entry was indexed again is seen there, and dropped.
            released = self.gate.release(now, self._reindexed) if round_no == 0 else []
            due = self.index.pop_due(horizon)
            if released:
                due = released + due
            due = self.gate.admit(due, self.entries, now, self.broker.get_statuses)
            if not due and not (round_no == 0 and self.gate.buffered):
                break
            result = self._dispatch_due(due, now)
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

    def _dispatch_due(self, due: list[tuple[str, datetime]], now: datetime) -> int | None:
        """Plan, push and record one round; None when the push failed (the round is put back
        in the index, or this beat stands by)."""
        plan = plan_round(due, self.entries, self.states, now)
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
        self.early.measured(result.sent + result.duplicates, result.push_s)
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
