"""Turn planned fires into messages and hand them to the broker, then record them.

Order matters for exactly-once: the broker push comes first and the state write second. A crash
between the two re-plans the same fires on restart; their deterministic ids make the broker
refuse the copies, so nothing is lost and nothing is repeated.

A burst of 100,000 fires must be in the broker within a second, so the hot path avoids building
:class:`Message` objects: each entry's message is encoded once into a
:class:`~taskqueue.message_template.MessageTemplate` (cached by the entry's content hash) and
every fire is rendered straight to bytes. Every batch is pushed before anything is logged or
recorded, so neither the per-fire log lines nor the state write delay the last message.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from beat.entries import Entry, EntrySpec, TaskOptions
from beat.messages import EPOCH, build_message, expiry
from beat.planner import Fire, Skipped
from beat.state import StateStore
from beat.state_log import FireRecord
from beat.time.jitter import send_at
from taskqueue.broker import Producer
from taskqueue.errors import BrokerError
from taskqueue.message import fire_id
from taskqueue.message_template import MessageTemplate, json_instant
from taskqueue.records import EncodedMessage, Fence

log = logging.getLogger(__name__)

# Messages per broker call: large enough to amortise round trips, small enough that one call
# never holds the broker for long.
BATCH_SIZE = 5_000
# A dispatch of up to this many fires logs a line per fire at INFO; a larger one logs one
# summary line at INFO and its per-fire lines at DEBUG. A line per fire is half of the CPU of
# a fire at 100,000 entries (formatting, not I/O); every fire stays traceable by id in the fire
# log (`beat history`), and in the per-fire DEBUG lines.
LOG_EACH_MAX = 100


@dataclass(frozen=True, slots=True)
class DispatchResult:
    sent: int
    duplicates: int
    failed: int = 0  # fires that could not be built or encoded (logged, not sent)
    # The fires the broker accepted (not duplicates, not failed), for lateness metrics.
    sent_fires: Sequence[Fire] = field(default=())
    push_s: float = 0.0  # encoding and pushing, without recording (beat.early_push)


class Dispatcher:
    """Encodes fires with message templates and pushes them in batches.

    Templates are shared by every entry whose message differs only by the entry name (same
    task, queue, arguments and options), so 100,000 entries of a few tasks cost a few
    templates; entries with arguments share a template per spec.
    """

    def __init__(self) -> None:
        # Entries with arguments, by their spec (shared by entries that differ only by name:
        # beat.entries.EntrySpec); the spec is kept with its template, so its id stays its own.
        self._by_spec: dict[int, tuple[EntrySpec, MessageTemplate, int]] = {}
        self._by_shape: dict[str, MessageTemplate] = {}
        # Entries without arguments, by (task, queue, options); see _template.
        self._plain: dict[tuple[str, str, TaskOptions], tuple[MessageTemplate, int]] = {}
        # JSON string literals of entry names and fire ids (see MessageTemplate.render_json).
        self._json_strings: dict[str, str] = {}

    def _template(self, entry: Entry) -> tuple[MessageTemplate, int]:
        # The spec's fields read once, not through the entry's properties: this runs once per
        # fire (a 1,000,000-fire burst, issue 17).
        spec = entry.spec
        if not spec.args and not spec.kwargs:
            # Most entries: the template follows from three hashable values, so nothing is
            # kept per entry (a million entries of a few tasks hold a few templates).
            key = (spec.task, spec.queue, spec.options)
            plain = self._plain.get(key)
            if plain is None:
                plain = self._plain[key] = self._shared(entry)
            return plain
        cached = self._by_spec.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1], cached[2]
        template, priority = self._shared(entry)
        self._by_spec[id(spec)] = (spec, template, priority)
        return template, priority

    def _shared(self, entry: Entry) -> tuple[MessageTemplate, int]:
        """The template of ``entry``'s shape (everything but its name)."""
        base = build_message(entry, message_id="-", enqueued_at=EPOCH, scheduled_for=EPOCH)
        shape = repr(
            (
                base.task,
                base.queue,
                base.args,
                base.kwargs,
                base.priority,
                base.soft_time_limit,
                base.time_limit,
                base.retry,
                entry.options.expires,
            )
        )
        template = self._by_shape.get(shape)
        if template is None:
            template = self._by_shape[shape] = MessageTemplate(base)
        return template, base.priority

    def prepare(self, names: Sequence[str], specs: Sequence[EntrySpec]) -> None:
        """Build the shared templates ahead of the first burst (start-up and reload), and
        forget those of entries that are gone: ``specs[i]`` is the spec of the entry
        ``names[i]`` (the enabled ones). A template only one entry uses (its own kwargs, say)
        waits for that entry's first fire: per-entry work that can wait does not hold up
        start-up, nor its memory."""
        self._by_spec.clear()
        # Per distinct spec, not per entry (entries share specs: beat.entries), counted in C:
        # a template call per entry was a tenth of indexing 100,000 entries (issue 17), and
        # an Entry per entry a second at a million.
        ids = list(map(id, specs))
        users = Counter(ids)
        named = dict(zip(ids, names, strict=True))
        for key, spec in dict(zip(ids, specs, strict=True)).items():
            # Without arguments: shared by (task, queue, options), built now. With them: built
            # now only if a second entry has the spec (else at the first fire).
            if (not spec.args and not spec.kwargs) or users[key] > 1:
                self._template(Entry.of(named[key], spec))

    def forget(self, names: Sequence[str]) -> None:
        for name in names:
            self._json_strings.pop(name, None)

    def encode(
        self, entry: Entry, fire: Fire, now: datetime, instants: dict[datetime, str] | None = None
    ) -> EncodedMessage:
        """One fire's wire message. ``instants`` caches JSON-formatted instants across a
        dispatch: a burst shares a handful of instants, and formatting is most of the cost."""
        template, priority = self._template(entry)
        spec = entry.spec  # read once (see _template)
        cache = {} if instants is None else instants

        def js(value: datetime) -> str:
            text = cache.get(value)
            if text is None:
                text = cache[value] = json_instant(value)
            return text

        # A fire planned ahead of its instant (lookahead) waits in the broker until then; with
        # `jitter:`, until its instant plus the fire's own delay (scheduled_for stays nominal).
        release = fire.scheduled_for
        if spec.jitter:
            release = send_at(release, fire.id, spec.jitter)
        eta = release if release > now else None
        expires = expiry(fire.scheduled_for, spec.options.expires)
        payload = template.render_json(
            fire.id,
            entry=entry.name,
            json_strings=self._json_strings,
            enqueued_at=js(now),
            scheduled_for=js(fire.scheduled_for),
            eta="null" if eta is None else js(eta),
            expires="null" if expires is None else js(expires),
        )
        return EncodedMessage(
            id=fire.id,
            queue=spec.queue,
            priority=priority,
            eta=eta,
            payload=payload,
            task=spec.task,
        )

    def dispatch(
        self,
        broker: Producer,
        store: StateStore,
        entries: Mapping[str, Entry],
        fires: Sequence[Fire],
        now: datetime,
        *,
        fence: Fence | None = None,
        skipped: Sequence[Skipped] = (),
        notes: Sequence[FireRecord] = (),
        after_batch: Callable[[Sequence[EncodedMessage]], None] | None = None,
    ) -> DispatchResult:
        """Enqueue ``fires`` and record each entry's last scheduled fire (or ``skipped`` one),
        with a fire log line per fire and per skipped run, in one state transaction. ``notes``:
        more fire log lines (fires that wait: :mod:`beat.overlap`), recorded alike.

        ``fence`` (the leader lease's name and token) makes the broker refuse the push, with
        :class:`~taskqueue.errors.Fenced`, if another beat has taken the lease since.

        A fire whose message cannot be built or encoded (too large, say) is logged and dropped
        and still recorded, so that it is not retried forever: one bad entry never stops the
        others. Raises the broker's error if a batch cannot be pushed; the fires of the batches
        pushed before it are recorded first, so a retry only repeats what had not been confirmed
        (and the broker would refuse those copies anyway). ``after_batch`` is called with each
        batch once it is pushed (beat promotes fires at their instant: :mod:`beat.promotions`).
        """
        started = time.perf_counter()
        if len(self._by_spec) > 2 * len(entries) + 1024:  # specs of removed or edited entries
            self._by_spec.clear()
        outcomes: list[tuple[Fire, bool]] = []  # (fire, accepted) for every fire pushed
        errors: list[FireRecord] = []  # the fires that could not be encoded
        failed = 0
        confirmed = 0  # fires[:confirmed] are settled: pushed, refused or dropped
        instants: dict[datetime, str] = {}
        try:
            for start in range(0, len(fires), BATCH_SIZE):
                batch = fires[start : start + BATCH_SIZE]
                items: list[EncodedMessage] = []
                encoded: list[Fire] = []
                for fire in batch:
                    try:
                        items.append(self.encode(entries[fire.entry], fire, now, instants))
                    # Whatever went wrong (size, an instant past the calendar), it is this
                    # fire's alone.
                    except Exception as e:
                        failed += 1
                        _log_failed(fire, e)
                        errors.append(
                            FireRecord(fire.entry, fire.scheduled_for, fire.id, "failed", str(e))
                        )
                        continue
                    encoded.append(fire)
                accepted = broker.enqueue_encoded(items, fence=fence) if items else []
                outcomes.extend(zip(encoded, accepted, strict=True))
                if after_batch is not None and items:
                    after_batch(items)
                confirmed = start + len(batch)
        except BrokerError:
            self._record(store, fires[:confirmed], now, outcomes, errors, ())
            raise
        push_s = time.perf_counter() - started
        self._record(store, fires, now, outcomes, [*errors, *notes], skipped)
        sent_fires = [fire for fire, ok in outcomes if ok]
        sent = len(sent_fires)
        each = logging.INFO if len(outcomes) <= LOG_EACH_MAX else logging.DEBUG
        self._log(entries, outcomes, now, each)
        if each != logging.INFO or len(fires) >= BATCH_SIZE:
            log.info(
                "dispatched %d fires (%d duplicates, %d failed) in %.3f s (push %.3f s)%s",
                sent,
                len(outcomes) - sent,
                failed,
                time.perf_counter() - started,
                push_s,
                _span(outcomes, now),
            )
        return DispatchResult(
            sent=sent,
            duplicates=len(outcomes) - sent,
            failed=failed,
            sent_fires=sent_fires,
            push_s=push_s,
        )

    @staticmethod
    def _record(
        store: StateStore,
        fires: Sequence[Fire],
        now: datetime,
        outcomes: Sequence[tuple[Fire, bool]],
        errors: Sequence[FireRecord],
        skipped: Sequence[Skipped],
    ) -> None:
        last: dict[str, datetime] = {}
        instants = [(f.entry, f.scheduled_for) for f in fires]
        instants += [(s.entry, s.last) for s in skipped]
        instants += [(r.entry, r.scheduled_for) for r in errors]
        for name, when in instants:
            prev = last.get(name)
            if prev is None or when > prev:
                last[name] = when
        lines = [
            FireRecord(f.entry, f.scheduled_for, f.id, "sent" if ok else "duplicate")
            for f, ok in outcomes
        ]
        lines += errors
        lines += [
            FireRecord(s.entry, s.last, fire_id(s.entry, s.last), "skipped", skip_reason(s))
            for s in skipped
        ]
        if last:
            store.record_fires(list(last.items()), now, lines)

    @staticmethod
    def _log(
        entries: Mapping[str, Entry],
        outcomes: Sequence[tuple[Fire, bool]],
        now: datetime,
        level: int,
    ) -> None:
        if not log.isEnabledFor(level):
            return
        ms = timedelta(milliseconds=1)
        for fire, ok in outcomes:
            # Negative lateness: enqueued ahead of the instant (lookahead), with the instant as
            # eta, so no worker can start it early.
            lateness_ms = round((now - fire.scheduled_for) / ms, 1)
            # The ids are fields (text: key=value after the message): the task id is the fire
            # id (one message per fire), named both ways so a worker's lines match by task_id.
            ids = {
                "entry": fire.entry,
                "fire_id": fire.id,
                "task_id": fire.id,
                "queue": entries[fire.entry].queue,
            }
            if ok:
                log.log(
                    level,
                    "fire %s for %s",
                    fire.entry,
                    fire.scheduled_for.isoformat(),
                    extra={**ids, "lateness_ms": lateness_ms},
                )
            else:
                log.log(
                    level,
                    "fire %s for %s already enqueued (refused as duplicate)",
                    fire.entry,
                    fire.scheduled_for.isoformat(),
                    extra=ids,
                )


def _span(outcomes: Sequence[tuple[Fire, bool]], now: datetime) -> str:
    """The instants a summary line covers and the largest lateness (negative: ahead)."""
    if not outcomes:
        return ""
    first = min(f.scheduled_for for f, _ok in outcomes)
    last = max(f.scheduled_for for f, _ok in outcomes)
    late_ms = (now - first) / timedelta(milliseconds=1)
    when = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    return f", scheduled for {when}, lateness up to {late_ms:.1f} ms"


def skip_reason(s: Skipped) -> str:
    """A skipped run as one fire log line: why, and how many fires from when."""
    if s.count == 1:
        return s.reason
    return f"{s.reason}: {s.count} fires from {s.first.isoformat()} to {s.last.isoformat()}"


def _log_failed(fire: Fire, error: Exception) -> None:
    log.error(
        "fire %s for %s not sent: %s",
        fire.entry,
        fire.scheduled_for.isoformat(),
        error,
        extra={"entry": fire.entry, "fire_id": fire.id, "task_id": fire.id},
    )
