"""``H`` items of a cron expression: resolved and expanded by croniter 7.0.0 itself.

Only an expression with a real ``H`` item (``H``, ``H/15``, ``H(1-8)``) needs croniter: its
hash expander picks the values from the entry name, and croniter expands the expression it
resolves to, so hashed values stay croniter's in every process and on every machine. Every
other item is expanded by beat/time/cron_fields.py, whose values are checked against
croniter's in tests/schedules/test_croniter_deviations.py. croniter (and python-dateutil
with it) costs ~15 ms to import, so it is imported on first use, by the first ``H``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from beat.errors import ScheduleError


@lru_cache(maxsize=1)
def _croniter_module() -> Any:
    """``croniter.croniter``, imported on first use.

    croniter 7.0.0 calls ``platform.architecture()`` at import (its ``is_32bit``), which runs
    the ``file`` program on the interpreter: a fork and exec, ~10 ms of every ``beat`` command
    that reads a cron entry. Its answer there only confirms the pointer size, which croniter
    checks first anyway, so during the import it is answered from the pointer size instead
    (the same verdict on every platform), and restored right after.
    """
    import importlib
    import platform
    import struct

    real = platform.architecture
    bits = f"{struct.calcsize('P') * 8}bit"
    platform.architecture = lambda *_args, **_kwargs: (bits, "")
    try:
        # The module, not the class the package re-exports under the same name.
        module = importlib.import_module("croniter.croniter")
    finally:
        platform.architecture = real
    return module


def _croniter() -> Any:
    return _croniter_module().croniter


@lru_cache(maxsize=4096)
def expand(text: str) -> tuple[tuple[int | str, ...], ...]:
    """croniter's allowed values per field of a 5-field expression whose ``H`` items are
    resolved (:func:`resolve_hash`)."""
    cron = _croniter()
    try:
        expanded, _ = cron.expand(text)
    except ValueError as exc:  # CroniterError; our checks should have caught it first
        raise ScheduleError("cron", f"croniter 7.0.0 refuses {text!r}: {exc}") from exc
    return tuple(tuple(values) for values in expanded)


@lru_cache(maxsize=1)
def _hash_expander() -> Any:
    return _croniter_module().HashExpander(_croniter())


def resolve_hash(index: int, token: str, name: str) -> str:
    """One ``H(a-b)[/n]`` item as croniter resolves it for ``hash_id=name``: croniter's own
    expander, item by item, because ``croniter.expand`` takes ``H`` only as a whole field and
    costs ~100 us a call where this costs a few (100k entries with distinct names)."""
    resolved = _hash_expander().expand("", index, token.lower(), hash_id=name.encode())
    return str(resolved)
