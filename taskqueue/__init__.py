"""The wire between beat and worker: the message format and the brokers.

Imports neither ``beat`` nor ``worker``.
"""

from __future__ import annotations

from taskqueue.broker import Broker, Delivery, QueueStats, TaskState, TaskStatus
from taskqueue.errors import BrokerError, BrokerUnavailable, DecodeError, TaskqueueError
from taskqueue.message import Headers, Message, RetryPolicy, fire_id, new_task_id

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerUnavailable",
    "DecodeError",
    "Delivery",
    "Headers",
    "Message",
    "QueueStats",
    "RetryPolicy",
    "TaskState",
    "TaskStatus",
    "TaskqueueError",
    "fire_id",
    "new_task_id",
]
