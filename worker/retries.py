"""Retry policy: which failures are retried, how many times, and how long to wait.

Backoff is exponential with *full jitter* (AWS architecture blog, "Exponential Backoff And
Jitter"): the delay before retry ``n`` is uniform in ``[0, min(cap, base * 2**n)]``, so a burst
of tasks failing together does not come back together.

Autoretry matching is done by *name*, because an outcome crosses a process boundary and carries
the exception's qualified name (``module.QualName``), not the class. A failure matches an entry
of ``autoretry_for`` when the name resolves (through ``sys.modules`` or ``builtins``) to a class
that is a subclass of the entry, or, when it cannot be resolved, when the name equals the
entry's qualified name or bare name.
"""

from __future__ import annotations

import builtins
import random
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from taskqueue.message import Message, RetryPolicy


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The retry budget that applies to one message."""

    max_retries: int
    backoff: timedelta
    backoff_max: timedelta


def as_timedelta(value: Any, default: timedelta) -> timedelta:
    """A task option given as seconds or a timedelta; ``default`` for None."""
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def effective_policy(message: Message, task: Any) -> EffectivePolicy:
    """The message's retry policy when it sets ``max_retries > 0``, else the task's defaults."""
    if message.retry.max_retries > 0:
        policy = message.retry
        return EffectivePolicy(policy.max_retries, policy.backoff, policy.backoff_max)
    default = RetryPolicy()
    return EffectivePolicy(
        max_retries=int(getattr(task, "max_retries", 0) or 0),
        backoff=as_timedelta(getattr(task, "retry_backoff", None), default.backoff),
        backoff_max=as_timedelta(getattr(task, "retry_backoff_max", None), default.backoff_max),
    )


def backoff_delay(
    attempt: int, base: timedelta, cap: timedelta, rng: random.Random | None = None
) -> timedelta:
    """Full-jitter delay before the retry that follows run number ``attempt`` (0-based)."""
    exponent = min(attempt, 62)  # 2**62 seconds is far beyond any cap; avoids overflow
    ceiling_s = min(cap.total_seconds(), base.total_seconds() * (2**exponent))
    draw = (rng or random).uniform(0.0, max(ceiling_s, 0.0))
    return timedelta(seconds=draw)


def resolve_exception(qualified_name: str) -> type[BaseException] | None:
    """The class named ``module.QualName`` (or a builtin name) if it is already imported."""
    module_name, _, attr_path = qualified_name.rpartition(".")
    candidates: list[Any] = []
    if module_name and module_name in sys.modules:
        candidates.append((sys.modules[module_name], attr_path))
    if not module_name or module_name == "builtins":
        candidates.append((builtins, attr_path or qualified_name))
    for owner, path in candidates:
        obj: Any = owner
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return obj
    return None


def _names(cls: type[BaseException]) -> set[str]:
    return {cls.__name__, cls.__qualname__, f"{cls.__module__}.{cls.__qualname__}"}


def matches_autoretry(exc_type: str | None, autoretry_for: Iterable[Any]) -> bool:
    """Whether a failure whose exception is named ``exc_type`` is to be retried automatically."""
    if not exc_type:
        return False
    wanted = [c for c in autoretry_for if isinstance(c, (type, str))]
    if not wanted:
        return False
    resolved = resolve_exception(exc_type)
    for entry in wanted:
        if isinstance(entry, str):
            if resolved is not None and any(entry in _names(k) for k in resolved.__mro__):
                return True
            if entry in (exc_type, exc_type.rpartition(".")[2]):
                return True
            continue
        if resolved is not None:
            if issubclass(resolved, entry):
                return True
        elif exc_type in _names(entry):
            return True
    return False
