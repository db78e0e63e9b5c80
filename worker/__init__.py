"""worker: runs registered tasks from the queues with soft and hard time limits.

``from worker import task, Reject, SoftTimeLimitExceeded, TimeLimitExceeded`` is the
user-facing API. The names are resolved lazily (PEP 562) so that importing a submodule such as
``worker.cli`` does not pay for the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.errors import (
        Reject,
        SoftTimeLimitExceeded,
        TimeLimitExceeded,
        UnknownTask,
        WorkerError,
    )
    from worker.registry import REGISTRY, Task, task

__all__ = [
    "REGISTRY",
    "Reject",
    "SoftTimeLimitExceeded",
    "Task",
    "TimeLimitExceeded",
    "UnknownTask",
    "WorkerError",
    "task",
]

_WHERE = {
    "REGISTRY": "worker.registry",
    "Task": "worker.registry",
    "task": "worker.registry",
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
