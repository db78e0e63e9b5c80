"""worker: runs registered tasks from the queues with soft and hard time limits.

``from worker import task, send_task, TaskResult, configure, chain, group, chord, signature,
Reject, SoftTimeLimitExceeded, TimeLimitExceeded`` is the user-facing API (``AsyncResult`` is
``TaskResult``).
The names are resolved lazily (PEP 562) so that importing a submodule such as
``worker.cli`` does not pay for the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.calling import send_task
    from worker.canvas import Signature, chain, chord, group, signature
    from worker.errors import (
        Reject,
        ResultTimeout,
        SoftTimeLimitExceeded,
        TaskFailed,
        TimeLimitExceeded,
        UnknownTask,
        WorkerError,
    )
    from worker.producer import configure
    from worker.registry import REGISTRY, Task, task
    from worker.result import AsyncResult, GroupResult, TaskResult

__all__ = [
    "REGISTRY",
    "AsyncResult",
    "GroupResult",
    "Reject",
    "ResultTimeout",
    "Signature",
    "SoftTimeLimitExceeded",
    "Task",
    "TaskFailed",
    "TaskResult",
    "TimeLimitExceeded",
    "UnknownTask",
    "WorkerError",
    "chain",
    "chord",
    "configure",
    "group",
    "send_task",
    "signature",
    "task",
]

_WHERE = {
    "REGISTRY": "worker.registry",
    "Task": "worker.registry",
    "task": "worker.registry",
    "send_task": "worker.calling",
    "configure": "worker.producer",
    "TaskResult": "worker.result",
    "AsyncResult": "worker.result",
    "GroupResult": "worker.result",
    "Signature": "worker.canvas",
    "signature": "worker.canvas",
    "chain": "worker.canvas",
    "group": "worker.canvas",
    "chord": "worker.canvas",
    "TaskFailed": "worker.errors",
    "ResultTimeout": "worker.errors",
    "Reject": "worker.errors",
    "SoftTimeLimitExceeded": "worker.errors",
    "TimeLimitExceeded": "worker.errors",
    "UnknownTask": "worker.errors",
    "WorkerError": "worker.errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'worker' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
