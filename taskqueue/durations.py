"""Durations as people write them in configuration: ``500ms``, ``30s``, ``5m``, ``1h30m``, ``2d``.

Shared by beat and worker (which never import each other). Grammar:

* one or more ``<number><unit>`` parts, units in decreasing order, each at most once:
  ``w`` (weeks), ``d`` (days), ``h`` (hours), ``m`` (minutes), ``s`` (seconds), ``ms``
  (milliseconds); numbers may have a decimal fraction (``1.5h``); spaces between parts are
  allowed (``1h 30m``). Units are lower case: ``M`` would be ambiguous with months.
* or plain seconds: an int, a float or a numeric string (``90``, ``"2.5"``).

The result is exact to the microsecond (numbers are read as decimals, not binary floats),
rounded half to even. Exact integer arithmetic, not :mod:`decimal`: importing it costs ~2.5 ms
of every ``beat`` command that reads a configuration (issues 12 and 17).
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_EXAMPLES = "e.g. 500ms, 30s, 5m, 1h30m, 2d"
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
# Ordered optional parts; `m(?!s)` keeps "500ms" from being read as 500 minutes + "s".
_DURATION = re.compile(
    rf"(?:{_NUMBER}w)?\s*(?:{_NUMBER}d)?\s*(?:{_NUMBER}h)?\s*(?:{_NUMBER}m(?!s))?\s*"
    rf"(?:{_NUMBER}s)?\s*(?:{_NUMBER}ms)?"
)
_UNIT_US = (
    604_800_000_000,  # w
    86_400_000_000,  # d
    3_600_000_000,  # h
    60_000_000,  # m
    1_000_000,  # s
    1_000,  # ms
)
_UNIT_NAMES = ("w", "d", "h", "m", "s", "ms")
_MAX_US = int(timedelta.max / timedelta(microseconds=1))


def _not_a_duration(value: object, field: str) -> ValueError:
    return ValueError(f"{field}: {value!r} is not a duration ({_EXAMPLES})")


def _to_us(ratio: tuple[int, int], unit_us: int) -> int:
    """``numerator / denominator`` units in microseconds, rounded half to even."""
    numerator, denominator = ratio
    quotient, remainder = divmod(numerator * unit_us, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    return quotient


def _decimal(text: str) -> tuple[int, int]:
    """The exact value of a decimal numeral (``_NUMBER``: ``2``, ``2.5``, ``.5``) as a ratio."""
    whole, _, fraction = text.partition(".")
    return int(whole + fraction), 10 ** len(fraction)


def parse_duration(
    value: str | int | float | timedelta, field: str, *, allow_zero: bool = False
) -> timedelta:
    """Parse a duration; ``field`` names it in the error (``entries.x.every``, ``--lease``).

    Raises :class:`ValueError` ``"<field>: '5x' is not a duration (e.g. ...)"`` or
    ``"<field>: '0s' must be positive"``. Booleans are refused (YAML turns ``yes`` into True).
    A :class:`timedelta` is accepted as is (after the same sign check), so already-parsed
    values pass through. ``allow_zero`` admits zero (e.g. "no lookahead").
    """
    if isinstance(value, bool):
        raise _not_a_duration(value, field)
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
    elif isinstance(value, int | float):
        try:
            micros = _to_us(value.as_integer_ratio(), 1_000_000)  # a float's exact value
        except (ValueError, OverflowError):  # nan, inf
            raise _not_a_duration(value, field) from None
    elif isinstance(value, str):
        # Configurations repeat the same few spellings ("30s", "5m") thousands of times.
        cached = _parse_text_cached(value)
        micros = cached if cached is not None else _parse_text(value, field)
    else:
        raise _not_a_duration(value, field)
    if micros < 0 or (micros == 0 and not allow_zero):
        raise ValueError(f"{field}: {value!r} must be positive")
    if micros > _MAX_US:
        raise ValueError(f"{field}: {value!r} is too long (at most {timedelta.max.days} days)")
    return timedelta(microseconds=micros)


@functools.lru_cache(maxsize=1024)
def _parse_text_cached(value: str) -> int | None:
    """Microseconds for a valid spelling, None for anything that needs an error message."""
    try:
        return _parse_text(value, "")
    except ValueError:
        return None


def _parse_text(value: str, field: str) -> int:
    text = value.strip()
    if text.startswith("-"):
        # Say what is wrong rather than "not a duration" when the only problem is the sign.
        rest = text[1:].lstrip()
        try:
            _parse_text(rest, field)
        except ValueError:
            raise _not_a_duration(value, field) from None
        raise ValueError(f"{field}: {value!r} must be positive")
    if re.fullmatch(_NUMBER, text):
        return _to_us(_decimal(text), 1_000_000)
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        raise _not_a_duration(value, field)
    return sum(
        _to_us(_decimal(amount), unit_us)
        for amount, unit_us in zip(match.groups(), _UNIT_US, strict=True)
        if amount is not None
    )


def format_duration(value: timedelta) -> str:
    """The compact form that :func:`parse_duration` reads back to the same value:
    ``1h30m``, ``500ms``, ``2d``, ``1w``; ``0s`` for zero; sub-millisecond parts as a
    decimal number of milliseconds (``1.5ms``)."""
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    parts: list[str] = []
    for unit, unit_us in zip(_UNIT_NAMES, _UNIT_US, strict=True):
        amount, micros = divmod(micros, unit_us)
        if unit == "ms" and micros:
            # The remaining microseconds: an exact decimal fraction of a millisecond.
            fraction = f"{micros:03d}".rstrip("0")
            parts.append(f"{amount}.{fraction}ms")
        elif amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)
