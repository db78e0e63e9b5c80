"""Turn planned fires into messages and hand them to the broker, then record them.

Order matters for exactly-once: the broker push comes first and the state write second. A crash
between the two re-plans the same fires on restart; their deterministic ids make the broker
refuse the copies, so nothing is lost and nothing is repeated.

A burst of 100,000 fires must be in the broker within a second, so the hot path avoids building
:class:`Message` objects: each entry's message is encoded once into a
:class:`~taskqueue.message.MessageTemplate` (cached by the entry's content hash) and every fire
is rendered straight to bytes. Every batch is pushed before anything is logged or recorded, so
neither the per-fire log lines nor the state write delay the last message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from beat.entries import Entry
from beat.planner import Fire
from beat.state import StateStore
from taskqueue.broker import Broker, EncodedMessage, Fence
from taskqueue.errors import BrokerError
from taskqueue.message import (
    DEFAULT_PRIORITY,
    Headers,
    Message,
    MessageTemplate,
    RetryPolicy,
    json_instant,
)

log = logging.getLogger(__name__)

# Messages per broker call: large enough to amortise round trips, small enough that one call
# never holds the broker for long.
BATCH_SIZE = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def retry_policy(entry: Entry) -> RetryPolicy:
    o = entry.options
    default = RetryPolicy()
    return RetryPolicy(
        max_retries=o.max_retries if o.max_retries is not None else default.max_retries,
        backoff=o.retry_backoff if o.retry_backoff is not None else default.backoff,
        backoff_max=o.retry_backoff_max if o.retry_backoff_max is not None else default.backoff_max,
    )


def build_message(
    entry: Entry,
    *,
    message_id: str,
    enqueued_at: datetime,
    scheduled_for: datetime | None,
    eta: datetime | None = None,
) -> Message:
    """The message for one run of ``entry``; ``expires`` counts from the scheduled instant
    (or from the enqueue instant for a manual trigger)."""
    o = entry.options
    start = scheduled_for or enqueued_at
    return Message(
        id=message_id,
        task=entry.task,
        queue=entry.queue,
        args=tuple(entry.args),
        kwargs=dict(entry.kwargs),
        priority=o.priority if o.priority is not None else DEFAULT_PRIORITY,
        eta=eta,
        expires=start + o.expires if o.expires is not None else None,
        soft_time_limit=o.soft_time_limit,
        time_limit=o.time_limit,
        retry=retry_policy(entry),
        headers=Headers(enqueued_at=enqueued_at, entry=entry.name, scheduled_for=scheduled_for),
    )


@dataclass(frozen=True, slots=True)
class DispatchResult:
    sent: int
    duplicates: int


class Dispatcher:
    """Encodes fires with message templates and pushes them in batches.

    Templates are shared by every entry whose message differs only by the entry name (same
    task, queue, arguments and options), so 100,000 entries of a few tasks cost a few
    templates; each entry remembers its template under its content hash.
    """

    def __init__(self) -> None:
        self._by_entry: dict[str, tuple[str, MessageTemplate, int]] = {}
        self._by_shape: dict[str, MessageTemplate] = {}
        # JSON string literals of entry names and fire ids (see MessageTemplate.render_json).
        self._json_strings: dict[str, str] = {}

    def _template(self, entry: Entry) -> tuple[MessageTemplate, int]:
        digest = entry.content_hash()
        cached = self._by_entry.get(entry.name)
        if cached is not None and cached[0] == digest:
            return cached[1], cached[2]
        base = build_message(entry, message_id="-", enqueued_at=_EPOCH, scheduled_for=_EPOCH)
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
        self._by_entry[entry.name] = (digest, template, base.priority)
        return template, base.priority

    def prepare(self, entries: Iterable[Entry]) -> None:
        """Build templates ahead of the first burst (start-up and reload)."""
        for entry in entries:
            self._template(entry)

    def forget(self, names: Sequence[str]) -> None:
        for name in names:
            self._by_entry.pop(name, None)
            self._json_strings.pop(name, None)

    def encode(
        self, entry: Entry, fire: Fire, now: datetime, instants: dict[datetime, str] | None = None
    ) -> EncodedMessage:
        """One fire's wire message. ``instants`` caches JSON-formatted instants across a
        dispatch: a burst shares a handful of instants, and formatting is most of the cost."""
        template, priority = self._template(entry)
        cache = {} if instants is None else instants

        def js(value: datetime) -> str:
            text = cache.get(value)
            if text is None:
                text = cache[value] = json_instant(value)
            return text

        # A fire planned ahead of its instant (lookahead) waits in the broker until then.
        eta = fire.scheduled_for if fire.scheduled_for > now else None
        expires = fire.scheduled_for + entry.options.expires if entry.options.expires else None
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
            queue=entry.queue,
            priority=priority,
            eta=eta,
            payload=payload,
            task=entry.task,
        )

    def dispatch(
        self,
        broker: Broker,
        store: StateStore,
        entries: Mapping[str, Entry],
        fires: Sequence[Fire],
        now: datetime,
        *,
        fence: Fence | None = None,
    ) -> DispatchResult:
        """Enqueue ``fires`` and record each entry's last scheduled fire.

        ``fence`` (the leader lease's name and token) makes the broker refuse the push, with
        :class:`~taskqueue.errors.Fenced`, if another beat has taken the lease since.

        Raises the broker's error if a batch cannot be pushed; the fires of the batches pushed
        before it are recorded first, so a retry only repeats what had not been confirmed (and
        the broker would refuse those copies anyway).
        """
        started = time.perf_counter()
        pushed: list[bool] = []
        instants: dict[datetime, str] = {}
        try:
            for start in range(0, len(fires), BATCH_SIZE):
                batch = fires[start : start + BATCH_SIZE]
                items = [self.encode(entries[f.entry], f, now, instants) for f in batch]
                pushed.extend(broker.enqueue_encoded(items, fence=fence))
        except BrokerError:
            self._record(store, fires[: len(pushed)], now)
            raise
        push_s = time.perf_counter() - started
        self._record(store, fires, now)
        sent = sum(pushed)
        self._log(entries, fires, pushed, now)
        if len(fires) >= BATCH_SIZE:
            log.info(
                "dispatched %d fires (%d duplicates) in %.3f s (push %.3f s)",
                sent,
                len(fires) - sent,
                time.perf_counter() - started,
                push_s,
            )
        return DispatchResult(sent=sent, duplicates=len(fires) - sent)

    @staticmethod
    def _record(store: StateStore, fires: Sequence[Fire], now: datetime) -> None:
        last: dict[str, datetime] = {}
        for fire in fires:
            prev = last.get(fire.entry)
            if prev is None or fire.scheduled_for > prev:
                last[fire.entry] = fire.scheduled_for
        if last:
            store.record_fires(list(last.items()), now)

    @staticmethod
    def _log(
        entries: Mapping[str, Entry],
        fires: Sequence[Fire],
        pushed: Sequence[bool],
        now: datetime,
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        ms = timedelta(milliseconds=1)
        for fire, ok in zip(fires, pushed, strict=True):
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
                log.info(
                    "fire %s for %s",
                    fire.entry,
                    fire.scheduled_for.isoformat(),
                    extra={**ids, "lateness_ms": lateness_ms},
                )
            else:
                log.info(
                    "fire %s for %s already enqueued (refused as duplicate)",
                    fire.entry,
                    fire.scheduled_for.isoformat(),
                    extra=ids,
                )
