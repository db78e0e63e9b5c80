"""The stored parts of a chord, read back: one place for both brokers' checks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from taskqueue.errors import DecodeError


def encode_part(value: Any) -> str:
    """The JSON text of one member's value (TypeError/ValueError if it is not JSON)."""
    return json.dumps(value, allow_nan=False)


def complete_parts(
    chord_id: str, size: int, stored: Iterable[tuple[str | bytes | int, str | bytes]]
) -> list[Any] | None:
    """Every member's value in order if all ``size`` are stored, else None; DecodeError
    naming the chord and the member when a stored part is garbage."""
    parts: dict[int, Any] = {}
    for raw_index, raw_value in stored:
        try:
            index = int(raw_index)
            parts[index] = json.loads(raw_value)
        except (ValueError, TypeError, RecursionError) as e:
            raise DecodeError(f"chord {chord_id}: member {raw_index!r}: {e}") from e
    if len(parts) < size:
        return None
    missing = [i for i in range(size) if i not in parts]
    if missing:
        raise DecodeError(f"chord {chord_id}: members {missing} missing, others stored")
    return [parts[i] for i in range(size)]
