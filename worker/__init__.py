"""worker: runs registered tasks from the queues with soft and hard time limits."""

from __future__ import annotations
