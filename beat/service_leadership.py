"""Leadership glue (high availability): only the holder of the leader lease dispatches
(:mod:`beat.leader`, on its own thread). A standby keeps its configuration current but skips
ticks. On becoming leader it reloads the run state from the store and re-indexes every entry
(another leader may have advanced them), then dispatches with the lease's fencing token, so a
beat that lost the lease without noticing (paused) is refused by the broker and goes back to
standby.
"""

from __future__ import annotations

import logging
from datetime import datetime

from beat.errors import StateCorrupt, StateError
from beat.overlap import Buffered, waited_on
from beat.planner import Fire
from beat.service_wiring import ServiceWiring
from taskqueue.message import fire_id

# The loop's records keep the logger name they have always had (documented in docs/).
log = logging.getLogger("beat.service")


class Leadership(ServiceWiring):
    """Following the elector: leading, standing by, and adopting the shared state."""

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
        names = self.roster.with_policies()  # read from the records: no Entry per entry
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
