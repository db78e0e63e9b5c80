"""The part of a :class:`~taskqueue.broker.Producer` that is the same on every broker.

A broker writes only ``_push``, the body of :meth:`~taskqueue.broker.Producer.enqueue_encoded`
for a non-empty batch; the single and batch forms encode first (a bad message is refused before
anything is written) and call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from taskqueue.broker import Producer
from taskqueue.message import Message
from taskqueue.records import DEFAULT_DEDUPE_TTL, EncodedMessage, Fence


class EncodingProducer(Producer):
    """:meth:`enqueue_once`, :meth:`enqueue_many` and :meth:`enqueue_encoded` through the
    broker's ``_push``."""

    def enqueue_once(self, message: Message, *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL) -> bool:
        """Push ``message`` unless its id was seen within ``dedupe_ttl``; atomic with the push."""
        return self.enqueue_many([message], dedupe_ttl=dedupe_ttl)[0]

    def enqueue_many(
        self, messages: Sequence[Message], *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> list[bool]:
        """Batch form of :meth:`enqueue_once`; one bool per message, in order."""
        encoded = [EncodedMessage.of(m) for m in messages]  # refuse bad ones before any write
        return self.enqueue_encoded(encoded, dedupe_ttl=dedupe_ttl)

    def enqueue_encoded(
        self,
        items: Sequence[EncodedMessage],
        *,
        dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL,
        fence: Fence | None = None,
    ) -> list[bool]:
        """See :meth:`~taskqueue.broker.Producer.enqueue_encoded`; an empty batch asks the
        broker nothing (not even the fence)."""
        if not items:
            return []
        return self._push(items, dedupe_ttl, fence)

    def _push(
        self, items: Sequence[EncodedMessage], dedupe_ttl: timedelta, fence: Fence | None
    ) -> list[bool]:
        """Enqueue-once for a non-empty batch, written by each broker."""
        raise NotImplementedError
