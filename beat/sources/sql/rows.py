"""Between a ``beat_entries`` row and the YAML form of an entry (a plain mapping).

The mapping is what :func:`beat.config.validate_entry` checks, so a row is valid exactly when
the same entry would be valid in ``schedules.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from beat.config.keys import ENTRY_KEYS
from beat.errors import Problem
from beat.sources.sql.schema import JSON_COLUMNS


def _to_text(value: object) -> str:
    """Scalars as the text YAML would show: ISO-8601 for dates and times."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def mapping_to_row(
    name: str, mapping: Mapping[str, Any], *, file: str
) -> tuple[dict[str, Any], list[Problem]]:
    """The column values for an already validated entry mapping.

    Keys absent from ``mapping`` become NULL, so writing a row replaces the whole entry.
    """
    row: dict[str, Any] = {"name": name}
    problems: list[Problem] = []
    for key in ENTRY_KEYS:
        value = mapping.get(key)
        if key == "enabled":
            row[key] = True if value is None else bool(value)
        elif value is None:
            row[key] = None
        elif key in JSON_COLUMNS:
            try:
                row[key] = json.dumps(value, default=_json_default, separators=(",", ":"))
            except (TypeError, ValueError) as e:
                problems.append(Problem(file, None, f"entries.{name}.{key}", f"cannot store: {e}"))
        else:
            row[key] = _to_text(value)
    return row, problems


def row_to_mapping(
    name: str, values: Mapping[Any, Any], *, file: str
) -> tuple[dict[str, Any], list[Problem]]:
    """The YAML form of a row: NULL columns are left out, JSON columns decoded."""
    return values_to_mapping(name, [values.get(key) for key in ENTRY_KEYS], file=file)


def values_to_mapping(
    name: str, values: Sequence[Any], *, file: str
) -> tuple[dict[str, Any], list[Problem]]:
    """:func:`row_to_mapping` for column values in :data:`ENTRY_KEYS` order (the fast path
    of a full load: one comprehension per row, JSON decoded only where present)."""
    mapping = {
        key: value for key, value in zip(ENTRY_KEYS, values, strict=True) if value is not None
    }
    problems: list[Problem] = []
    enabled = mapping.pop("enabled", True)
    if enabled is False or (type(enabled) is int and enabled == 0):
        mapping["enabled"] = False
    elif not (enabled is True or (type(enabled) is int and enabled == 1)):
        # SQLite stores whatever raw SQL writes ('no', 2): let validation name it.
        mapping["enabled"] = enabled
    for key in _JSON_ORDER:
        if key in mapping:
            try:
                mapping[key] = json.loads(mapping[key])
            except (ValueError, RecursionError) as e:
                del mapping[key]
                problems.append(Problem(file, None, f"entries.{name}.{key}", _json_problem(e)))
    return mapping, problems


def _json_problem(error: ValueError | RecursionError) -> str:
    # A column nested past the decoder's recursion limit (raw SQL can write it) is the row's
    # problem, not the reader's: uncaught, it stopped the start-up, or every poll after it.
    if isinstance(error, RecursionError):
        return "not valid JSON: nested too deeply"
    return f"not valid JSON: {error}"


_JSON_ORDER = tuple(key for key in ENTRY_KEYS if key in JSON_COLUMNS)
