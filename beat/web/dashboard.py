"""What the dashboard shows and does, as JSON-ready data: one method per page and per action,
shared by the HTML pages and the JSON API (:mod:`beat.web.pages`, :mod:`beat.web.actions`).

Everything is computed by the functions the ``beat`` commands use (:mod:`beat.views`,
:mod:`beat.messages`, :class:`beat.entries_api.EntryStore`). Blocking: the app calls these
from its thread pool. Secrets never leave here: arguments, results and errors pass through
:func:`beat.cli.render.redact`, the broker URL is shown redacted.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beat.entries import Entry
from beat.errors import ConfigError
from beat.ops.pause import describe_pause
from beat.views.entries import (
    dst_changes,
    entry_row,
    local_iso,
    next_fires,
)
from beat.views.records import dead_letter_data, leader_data, queue_data, status_data
from beat.web.sources import NotFound, Sources, redact
from beat.web.timeline import Timeline
from taskqueue.message import fire_id
from taskqueue.redact import redact_url

if TYPE_CHECKING:
    from beat.state import StateStore

log = logging.getLogger("beat.web")
actions_log = logging.getLogger("beat.web.actions")

# Fires shown in an entry's history (its page and chart).
HISTORY = 50
# The entry page's timeline (and its DST marks) ends at the last fire shown, at most this far.
DST_WINDOW = timedelta(days=400)


class Refused(Exception):
    """An action that cannot be done to this object (e.g. enabling a schedules.yaml entry):
    the API answers 409 with the reason."""


class Dashboard(Sources):
    """The dashboard's pages and actions over one ``schedules.yaml``, run state and broker
    (:class:`~beat.web.sources.Sources`)."""

    def __init__(self, config_path: Path, state: str, broker_url: str | None = None) -> None:
        super().__init__(config_path, state, broker_url)
        self.depth: deque[dict[str, Any]] = deque(maxlen=720)
        self._timeline = Timeline()

    # -- pages ---------------------------------------------------------------------------

    def entries(self, query: str, offset: int, limit: int, now: datetime) -> dict[str, Any]:
        """The entries page: entries whose name, task or queue contains ``query``, one page
        of them with their next fire (and its DST note) and the outcome of their last fire."""
        config, states, pauses = self.config(), self.states(), self.pauses()
        needle = query.lower()
        names = [
            name
            for name, e in config.entries.items()
            if not needle or needle in f"{name}\n{e.task}\n{e.queue}".lower()
        ]
        rows = []
        shown = names[offset : offset + limit]
        last_ids = {
            name: fire_id(name, state.last_fire)
            for name in shown
            if (state := states.get(name)) is not None and state.last_fire is not None
        }
        outcomes = self.reader().task_statuses(list(last_ids.values()))
        for name in shown:
            entry = config.entries[name]
            stored, pause = states.get(name), pauses.get(name)
            row = entry_row(entry, stored, now, pause, with_note=True)
            # The state of the task of the entry's last scheduled fire (None: never fired).
            last_id = last_ids.get(name)
            status = outcomes.get(last_id) if last_id else None
            row["last_outcome"] = (
                None if last_id is None else str(status.state) if status else "unknown"
            )
            rows.append(row)
        return {"total": len(names), "offset": offset, "limit": limit, "entries": rows}

    def entry_detail(self, name: str, now: datetime, count: int = 20) -> dict[str, Any]:
        """One entry: its row, definition (secrets redacted), last fire and its outcome, the
        next ``count`` fires with DST notes, the zone's DST changes over the timeline's window
        (now to the last of those fires, at least a day, at most DST_WINDOW), and its history
        (``beat history``: the fire log with the task states)."""
        entry = self.entry(name)
        stored = self.states().get(name)
        pause = self.pauses().get(name)
        row = entry_row(entry, stored, now, pause)
        fires = next_fires(entry, stored, pause, now, limit=count, until=None)
        end = datetime.fromisoformat(fires[-1]["utc"]) if fires else now
        end = min(max(end, now + timedelta(days=1)), now + DST_WINDOW) + timedelta(seconds=1)
        last = None
        if stored is not None and stored.last_fire is not None:
            last_id = fire_id(name, stored.last_fire)
            last = {
                "at": local_iso(stored.last_fire, entry),
                "task_id": last_id,
                "status": redact(status_data(last_id, self.reader().task_status(last_id))),
            }
        return {
            **row,
            "definition": self._definition(entry),
            "last": last,
            "next": fires,
            "window": {"start": now.astimezone(UTC).isoformat(), "end": end.isoformat()},
            "dst_changes": dst_changes(entry, now, end),
            "history": self.history(name, HISTORY),
        }

    @staticmethod
    def _definition(entry: Entry) -> dict[str, Any]:
        from beat.config.serialise import entry_to_mapping

        return dict(redact(entry_to_mapping(entry)))

    def history(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The entry's newest ``limit`` fires, newest first (``beat history --json``)."""
        from beat.views.history import history_rows

        self.entry(name)
        store = self.state_store(create=False)
        records = store.fire_log(name, limit) if store is not None else []
        return list(redact(history_rows(records, self.reader().task_statuses)))

    def queues(self) -> dict[str, Any]:
        return {"queues": [queue_data(s) for s in self.reader().queue_stats()]}

    def depth_history(self) -> dict[str, Any]:
        """The queue depths sampled by this process over the last hour (totals over all
        queues), as columns for the chart."""
        samples = list(self.depth)
        kinds = ("ready", "delayed", "in_flight", "dead")
        return {"t": [s["t"] for s in samples], **{k: [s[k] for s in samples] for k in kinds}}

    def sample_depth(self) -> None:
        """Record one sample of the queue depths (the sampler calls this every few seconds)."""
        stats = self.reader().queue_stats()
        sample: dict[str, Any] = {"t": time.time()}
        for kind in ("ready", "delayed", "in_flight", "dead"):
            sample[kind] = sum(getattr(s, kind) for s in stats)
        self.depth.append(sample)

    def dead_letters(self, queue: str | None, limit: int) -> dict[str, Any]:
        """The newest ``limit`` dead letters of ``queue``, or of every queue that has some."""
        reader = self.reader()
        queues = [queue] if queue else [s.name for s in reader.queue_stats() if s.dead]
        letters = [dead_letter_data(d) for q in queues for d in reader.dead_letters(q, limit)]
        return {"queue": queue, "dead_letters": redact(letters)}

    def workers(self) -> dict[str, Any]:
        """The workers page: live workers with the tasks they run now, then missed ones."""
        from beat.ops.workers import worker_data

        return {"workers": redact([worker_data(w) for w in self.reader().workers()])}

    def task(self, task_id: str) -> dict[str, Any]:
        status = self.reader().task_status(task_id)
        if status is None:
            raise NotFound(f"task {task_id!r}: unknown (never seen, or its record expired)")
        return dict(redact(status_data(task_id, status)))

    def leader(self, now: datetime) -> dict[str, Any]:
        holder, problem = self.reader().leader()
        data = leader_data(holder, problem)
        left = None
        if holder is not None:
            left = round((holder.expires_at - now).total_seconds(), 3)
        return {
            "broker": redact_url(self.broker_url),
            "leader": data,
            "lease_seconds_left": left,
        }

    def timeline(self, now: datetime, hours: int, limit: int) -> dict[str, Any]:
        """Every fire in the next ``hours``, at most ``limit``, and the paused entries
        (:mod:`beat.web.timeline`)."""
        return self._timeline.answer(self.config(), self.states(), self.pauses(), now, hours, limit)

    # -- actions -------------------------------------------------------------------------

    def trigger(self, name: str, actor: str) -> dict[str, Any]:
        """Run the entry's task now (``beat trigger``), recorded in the entry's history."""
        from beat.ops.trigger import trigger

        entry = self.entry(name)
        with self.broker() as broker:
            try:
                done = trigger(broker, entry, self._open_state, actor, datetime.now(UTC))
            except ValueError as e:
                raise Refused(f"trigger {name}: {e}") from e
        if done.unrecorded is not None:
            log.warning("dashboard: trigger: %s", redact(done.unrecorded))
        actions_log.info(
            "dashboard: %s triggered entry %s",
            actor,
            name,
            extra={"action": "trigger", "entry": name, "task_id": done.task_id, "user": actor},
        )
        return {"entry": name, "task_id": done.task_id}

    def _open_state(self) -> StateStore:
        """The run state's store, created if it does not exist yet (to write to it)."""
        store = self.state_store(create=True)
        assert store is not None
        return store

    def revoke(self, task_id: str, terminate: bool, actor: str) -> dict[str, Any]:
        """Revoke a task (``beat revoke [--terminate]``): a queued or delayed one is removed,
        a running one stopped when ``terminate``; the id never runs later."""
        from beat.ops.revoke import describe, revocation_data
        from beat.ops.revoke import revoke as revoke_task

        with self.broker() as broker:
            revocation = revoke_task(broker, task_id, terminate=terminate)
        said = describe(revocation)
        actions_log.info(
            "dashboard: %s revoked task %s: %s",
            actor,
            task_id,
            said,
            extra={"action": "revoke", "task_id": task_id, "terminate": terminate, "user": actor},
        )
        return {**revocation_data(revocation), "done": said}

    def dead_count(self, queue: str | None) -> int:
        """How many dead letters ``queue`` (None: every queue) holds."""
        return sum(s.dead for s in self.reader().queue_stats() if queue in (None, s.name))

    def requeue_dead(self, queue: str | None, ids: list[str] | None, actor: str) -> dict[str, Any]:
        """Requeue the dead letters ``ids`` (None: all) of ``queue`` (None: every queue) as new
        deliveries (``beat dead requeue``); one id asked for and not dead there: NotFound."""
        from beat.ops.dead import requeue

        with self.broker() as broker:
            report = requeue(broker, ids, queue)
        if ids is not None and len(ids) == 1 and report.missing:
            raise NotFound(f"dead letter {ids[0]!r}: not in queue {queue!r}")
        said = f"requeued {len(report.requeued)} dead letter(s)"
        if report.refused:
            said += "; not requeued: " + "; ".join(f"{i}: {w}" for i, w in report.refused.items())
        actions_log.info(
            "dashboard: %s %s %s",
            actor,
            said,
            "of every queue" if queue is None else f"of queue {queue}",
            extra={"action": "requeue", "queue": queue, "user": actor},
        )
        return dict(
            redact(
                {
                    "requeued": [{"queue": q, "id": i} for q, i in report.requeued],
                    "refused": report.refused,
                    "missing": report.missing,
                    "done": said,
                }
            )
        )

    def purge_dead(self, queue: str | None, actor: str) -> dict[str, Any]:
        """Delete the dead letters of ``queue`` (None: every queue) (``beat dead purge``)."""
        from beat.ops.dead import purge_dead

        with self.broker() as broker:
            counts = purge_dead(broker, queue)
        total = sum(counts.values())
        said = f"purged {total} dead letter(s)" + "".join(
            f"; {n} from {q}" for q, n in counts.items() if n
        )
        actions_log.info(
            "dashboard: %s %s",
            actor,
            said,
            extra={"action": "purge_dead", "queue": queue, "user": actor},
        )
        return {"purged": counts, "total": total, "done": said}

    def set_paused(self, name: str, paused: bool, note: str, actor: str) -> dict[str, Any]:
        """Pause (``note`` says why) or resume an entry (``beat pause|resume``): kept in the
        run state, so every beat sharing it follows on its next tick."""
        self.entry(name)
        store = self._open_state()
        now = datetime.now(UTC)
        before = store.set_pause(name, paused, note, now)
        with self._lock:
            self._read.clear()
        said = describe_pause(name, paused, note, before, now)
        verb = "pause" if paused else "resume"
        actions_log.info(
            "dashboard: %s: %s",
            actor,
            said,
            extra={"action": verb, "entry": name, "note": note, "user": actor},
        )
        return {"entry": name, "paused": paused, "note": note, "done": said}

    def set_enabled(self, name: str, enabled: bool, actor: str) -> dict[str, Any]:
        """Enable or disable an entry of the SQL source (``beat entries enable|disable``); an
        entry of schedules.yaml is changed by editing the file."""
        from beat.entries_api import EntryStore

        entry = self.entry(name)
        config = self.config()
        if entry.source == "yaml" or config.source == "yaml":
            raise Refused(
                f"entry {name!r} is defined in {config.path}: edit the file to "
                f"{'enable' if enabled else 'disable'} it"
            )
        with EntryStore(config.source, config.timezone, dict(config.defaults)) as store:
            if enabled:
                store.enable(name)
            else:
                store.disable(name)
        self.forget_config()
        verb = "enable" if enabled else "disable"
        actions_log.info(
            "dashboard: %s %sd entry %s",
            actor,
            verb,
            name,
            extra={"action": verb, "entry": name, "user": actor},
        )
        return {"entry": name, "enabled": enabled}


def config_problem(error: ConfigError) -> str:
    return "; ".join(redact(str(p)) for p in error.problems)
