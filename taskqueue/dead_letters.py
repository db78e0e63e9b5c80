"""Putting dead letters back, and dropping messages (``beat dead``, ``beat purge``): the
records the brokers' :class:`~taskqueue.broker.QueueMaintenance` role returns, and the one rule
of what a requeued message is."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from taskqueue.message import Message, decode_payload


@dataclass(frozen=True, slots=True)
class Requeued:
    """What ``requeue_dead`` did in one queue: the ids put back as new deliveries, and the
    ones it could not (id -> why: not a message, already waiting in the queue)."""

    queue: str
    requeued: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def requeued_message(message_id: str, payload: bytes) -> Message | str:
    """A dead letter's payload as a new delivery: the same id and task, attempts reset (attempt
    0, no eta). A string saying why if the payload is not a message (or not this id's)."""
    decoded = decode_payload(payload)
    if not isinstance(decoded, Message):
        return f"the payload is not a message ({decoded.reason})"
    if decoded.id != message_id:
        return f"the payload is message {decoded.id!r}, not {message_id!r}"
    return dataclasses.replace(decoded, attempt=0, eta=None)
