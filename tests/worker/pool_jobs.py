"""Jobs for the pool tests and the loop that collects their outcomes (both pools use them)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from worker.pool import Job, Outcome, Pool
from worker.registry import REGISTRY


def job(name: str, *args: Any, soft: float | None = None, hard: float | None = None) -> Job:
    return Job(uuid.uuid4().hex, REGISTRY.get(name), args, {}, _limit(soft), _limit(hard))


def _limit(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def collect(pool: Pool, count: int, timeout: float = 15.0) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < count:
        assert time.monotonic() < deadline, f"only {len(outcomes)} of {count} outcomes"
        outcomes.extend(pool.wait(0.2))
    return outcomes
