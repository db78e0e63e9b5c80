"""One-message forms of the batch delivery calls, for tests.

The brokers have one path for each step, the batch one the worker runs (``claim_many``,
``settle_many``); tests that handle one message at a time go through these, so what they check
is that path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from taskqueue.broker import Consumer
from taskqueue.message import Message
from taskqueue.records import ACK, DeadLetterAction, Delivery, RetryAction, Settlement


def claim(
    broker: Consumer, queues: Sequence[str], consumer: str, lease: timedelta, timeout: timedelta
) -> Delivery | None:
    """``claim_many`` of one (which records the message STARTED); None on timeout."""
    claimed = broker.claim_many(queues, consumer, lease, timeout, 1)
    return claimed[0] if claimed else None


def ack(broker: Consumer, delivery: Delivery) -> bool:
    """Settle by removing the message, recording no status; False if the claim is lost."""
    return broker.settle_many([Settlement(delivery, ACK, None)])[0]


def retry(broker: Consumer, delivery: Delivery, message: Message, eta: datetime) -> bool:
    """Settle by replacing the message with ``message``, delayed until ``eta``."""
    return broker.settle_many([Settlement(delivery, RetryAction(message, eta), None)])[0]


def dead_letter(broker: Consumer, delivery: Delivery, reason: str) -> bool:
    """Settle by moving the message to its queue's dead letters with ``reason``."""
    return broker.settle_many([Settlement(delivery, DeadLetterAction(reason), None)])[0]
