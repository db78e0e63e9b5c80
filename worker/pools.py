"""Choosing a pool: :func:`make_pool` builds the ``prefork`` or ``threads`` implementation of
:class:`worker.pool.Pool` (kept apart from the protocol, which both implementations import)."""

from __future__ import annotations

from collections.abc import Sequence

from worker.errors import PoolError
from worker.pool import Pool
from worker.prefork import PreforkPool
from worker.threads import ThreadPool


def make_pool(
    kind: str,
    concurrency: int,
    *,
    modules: Sequence[str],
    max_tasks_per_child: int | None = None,
    max_memory_per_child: int | None = None,
) -> Pool:
    """A ``prefork`` or ``threads`` pool of ``concurrency`` slots (not started yet).

    ``modules`` are the task modules each child process imports; ``max_memory_per_child`` is
    in KiB (peak resident size after a job). Both ``max_*`` options apply to prefork only.
    """
    if concurrency < 1:
        raise PoolError(f"concurrency: must be at least 1, got {concurrency}")
    if kind == "prefork":
        return PreforkPool(
            concurrency,
            modules=modules,
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child,
        )
    if kind == "threads":
        threads: Pool = ThreadPool(concurrency)
        return threads
    raise PoolError(f"pool: expected 'prefork' or 'threads', got {kind!r}")
