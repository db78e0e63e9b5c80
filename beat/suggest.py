"""Did-you-mean hints for misspelled keys, entry names and time zones.

Imported on error paths of the CLI, so it stays cheap: only :mod:`difflib`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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
    close = difflib.get_close_matches(name, pool, n=1, cutoff=CUTOFF)
    if not close:
        lowered = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=CUTOFF)
        close = [by_lower[lowered[0]]] if lowered else []
    return f" (did you mean {close[0]!r}?)" if close and close[0] != name else ""
