"""Keys of the ``worker:`` section of ``schedules.yaml``, in one place.

The worker reads that section itself (worker/settings.py) and ``beat check`` validates it too
(beat/config.py); beat and worker never import each other, so the list lives here, in the
package both import, and the two can never disagree on what is a valid key.
"""

from __future__ import annotations

WORKER_KEYS = (
    "queues",
    "concurrency",
    "pool",
    "lease",
    "shutdown_timeout",
    "max_tasks_per_child",
    "max_memory_per_child",
    "max_deliveries",
    "name",
    "loglevel",
    "log_format",
    "metrics_port",
)
