"""Per-task rate limits: a token bucket per task name.

Scope: the buckets live in one worker *process* (the consumer), so ``rate_limit="10/s"`` means
at most 10 starts per second per worker process, as in Celery; three workers allow up to 30/s.
A message that finds no token is not run and not counted as an attempt: the consumer puts it
back, delayed by :meth:`RateLimiter.acquire`'s wait, at the same attempt number.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import timedelta

_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")


def parse_rate(value: str | float | int | None) -> float | None:
    """Tokens per second from ``"10/s"``, ``"100/m"``, ``"5/h"`` or a number (per second).

    None or 0 means unlimited.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        rate = float(value)
    else:
        match = _RATE.match(value)
        if match is None:
            raise ValueError(f"rate_limit: {value!r} is not N, N/s, N/m or N/h")
        rate = float(match.group(1)) / _UNITS_S[match.group(2) or "s"]
    if rate < 0:
        raise ValueError(f"rate_limit: {value!r} is negative")
    return rate or None


@dataclass(slots=True)
class TokenBucket:
    """Refills ``rate_per_s`` tokens a second up to ``capacity``; starts full."""

    rate_per_s: float
    capacity: float
    tokens: float
    updated_s: float | None = None

    def acquire(self, now_s: float) -> timedelta:
        """Take a token: zero if one was available, else how long until one will be."""
        if self.updated_s is not None:
            elapsed = max(0.0, now_s - self.updated_s)
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        self.updated_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return timedelta(0)
        return timedelta(seconds=(1.0 - self.tokens) / self.rate_per_s)


class RateLimiter:
    """Token buckets keyed by task name, created on first use."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, task_name: str, rate: str | float | int | None, now_s: float) -> timedelta:
        """Zero if ``task_name`` may start now (a token was taken), else the wait for one.

        ``now_s`` is a monotonic clock reading in seconds.
        """
        rate_per_s = parse_rate(rate)
        if rate_per_s is None:
            return timedelta(0)
        with self._lock:
            bucket = self._buckets.get(task_name)
            if bucket is None or bucket.rate_per_s != rate_per_s:
                # A burst of one second's worth (at least one token) keeps short spikes smooth.
                capacity = max(1.0, rate_per_s)
                bucket = TokenBucket(rate_per_s, capacity, capacity)
                self._buckets[task_name] = bucket
            return bucket.acquire(now_s)
