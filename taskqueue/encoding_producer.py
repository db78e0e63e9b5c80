"""The part of a :class:`~taskqueue.broker.Producer` that is the same on every broker.

A broker writes only :meth:`~taskqueue.broker.Producer.enqueue_encoded`; the single and batch
forms encode first (a bad message is refused before anything is written) and call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from taskqueue.broker import Producer
from taskqueue.message import Message
from taskqueue.records import DEFAULT_DEDUPE_TTL, EncodedMessage


class EncodingProducer(Producer):
    """:meth:`enqueue_once` and :meth:`enqueue_many` through the broker's ``enqueue_encoded``."""

    def enqueue_once(self, message: Message, *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL) -> bool:
        """Push ``message`` unless its id was seen within ``dedupe_ttl``; atomic with the push."""
        return self.enqueue_many([message], dedupe_ttl=dedupe_ttl)[0]

    def enqueue_many(
        self, messages: Sequence[Message], *, dedupe_ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> list[bool]:
        """Batch form of :meth:`enqueue_once`; one bool per message, in order."""
        encoded = [EncodedMessage.of(m) for m in messages]  # refuse bad ones before any write
        return self.enqueue_encoded(encoded, dedupe_ttl=dedupe_ttl)
