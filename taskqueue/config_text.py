"""The words of configuration problems: what a value is, and did-you-mean hints for
misspelled keys, entry names and time zones.

Shared by ``beat check`` and the worker (which never import each other), so both describe a
wrong value in the same words. Imported on error paths of the CLI, so it stays cheap: only
the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

# difflib's default ratio: close enough that the hint is almost always the intended word.
CUTOFF = 0.6


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'every'?)"`` for the closest candidate, or ``""`` if none is close.

    Meant to be appended to an error message. Case differences count as close
    (``europe/berlin`` suggests ``Europe/Berlin``).
    """
    pool = list(candidates)
    if not pool:
        return ""
    by_lower: dict[str, str] = {}
    for candidate in pool:
        by_lower.setdefault(candidate.lower(), candidate)
    exact_case = by_lower.get(name.lower())
    if exact_case is not None and exact_case != name:
        return f" (did you mean {exact_case!r}?)"
    import difflib  # here: only a name that is not found pays for it

    close = difflib.get_close_matches(name, pool, n=1, cutoff=CUTOFF)
    if not close:
        lowered = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=CUTOFF)
        close = [by_lower[lowered[0]]] if lowered else []
    return f" (did you mean {close[0]!r}?)" if close and close[0] != name else ""


def describe(value: Any) -> str:
    """What ``value`` is, for a message: ``the string 'x'``, ``a mapping``, ``the number 5``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"{type(value).__name__} {value!r}"
