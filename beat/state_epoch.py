"""Instants as stored in the run state: integer microseconds since the Unix epoch (UTC), exact,
portable across databases and cheap to compare; and the chunking of IN (...) lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

# Names per statement in IN (...) lists: far below SQLite's bound-variable limit.
CHUNK = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

T = TypeVar("T")


def to_epoch_us(value: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (exact)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (a UTC offset is required)")
    return (value - _EPOCH) // _US


def from_epoch_us(value: int) -> datetime:
    """The inverse of :func:`to_epoch_us`: an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=value)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
