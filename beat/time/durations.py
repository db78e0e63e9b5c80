"""Durations (``30s``, ``1h30m``) and calendar steps (``2w``, ``3mo``) as written in
``schedules.yaml``.

Durations are exact spans of real time (shared with the worker, see
:mod:`taskqueue.durations`). Calendar steps are counts of calendar units, which have no fixed
length (a month is 28-31 days, a day across DST 23-25 hours), so they have their own grammar:

    <count><unit>   count a whole number >= 1; unit one of
    d   days        w   weeks       mo  months      y   years

Months are spelled ``mo`` only: ``m`` means minutes in a duration, and ``M`` reads as minutes
to many people, so both are refused with a hint rather than guessed.
"""

from __future__ import annotations

import re

from taskqueue.durations import format_duration, parse_duration

__all__ = [
    "CALENDAR_UNITS",
    "format_calendar_step",
    "format_duration",
    "parse_calendar_step",
    "parse_duration",
]

CALENDAR_UNITS = {"d": "days", "w": "weeks", "mo": "months", "y": "years"}
_SHORT = {name: short for short, name in CALENDAR_UNITS.items()}
# Compiled by re on first use (its cache): only calendar entries have a step.
_STEP = r"(\d+)\s*([A-Za-z]+)"
_EXAMPLES = "e.g. 1d, 2w, 3mo, 1y"


def parse_calendar_step(value: str, field: str) -> tuple[int, str]:
    """``"2w"`` -> ``(2, "weeks")``; units ``d``, ``w``, ``mo``, ``y`` (see the module docs).

    Raises :class:`ValueError` naming ``field`` and the accepted forms.
    """
    if not isinstance(value, str) or isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a calendar step ({_EXAMPLES})")
    match = re.fullmatch(_STEP, value.strip())
    if match is None:
        raise ValueError(f"{field}: {value!r} is not a calendar step ({_EXAMPLES})")
    count_text, unit = match.groups()
    count = int(count_text)
    if unit not in CALENDAR_UNITS:
        if unit in ("m", "M", "mon", "month", "months"):
            hint = "write months as 'mo' (e.g. 3mo)"
        elif unit in ("h", "s", "ms"):
            hint = "a calendar step is whole days or more; use 'every:' for shorter intervals"
        else:
            hint = "units: d, w, mo, y"
        raise ValueError(f"{field}: {value!r} has an unknown unit {unit!r} ({hint})")
    if count < 1:
        raise ValueError(f"{field}: {value!r} must be at least 1")
    return count, CALENDAR_UNITS[unit]


def format_calendar_step(count: int, unit: str) -> str:
    """The inverse of :func:`parse_calendar_step`: ``(2, "weeks")`` -> ``"2w"``."""
    return f"{count}{_SHORT[unit]}"
