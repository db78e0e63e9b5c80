"""The wire between beat and worker: the message format and the brokers.

Imports neither ``beat`` nor ``worker``. The names below are loaded on first use (PEP 562):
importing one submodule, e.g. ``taskqueue.errors`` from ``beat next``, must not pay for the
others (~25 ms of CLI start-up).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Broker": "taskqueue.broker",
    "Delivery": "taskqueue.records",
    "QueueStats": "taskqueue.records",
    "TaskState": "taskqueue.records",
    "TaskStatus": "taskqueue.records",
    "BrokerError": "taskqueue.errors",
    "BrokerUnavailable": "taskqueue.errors",
    "DecodeError": "taskqueue.errors",
    "TaskqueueError": "taskqueue.errors",
    "Headers": "taskqueue.message",
    "Message": "taskqueue.message",
    "RetryPolicy": "taskqueue.message",
    "fire_id": "taskqueue.message",
    "new_task_id": "taskqueue.message",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'taskqueue' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
