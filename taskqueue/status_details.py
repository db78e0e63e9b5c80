"""The optional part of a task status: parent id, children ids, the remote traceback.

Children are bounded too: the first :data:`MAX_CHILDREN` ids, then only how many more
(``more_children``).

Stored as one JSON object next to the status's fixed fields (a Redis hash field, a SQLite
column), absent when empty, so statuses without them keep their old form and a store written
before they existed reads as "none". The traceback is bounded here, for every writer: a task
failing with a 10 MB message must not put 10 MB in the store.
"""

from __future__ import annotations

import json
from typing import Any

from taskqueue.errors import DecodeError

MAX_TRACEBACK_BYTES = 8192
MAX_CHILDREN = 1000


def bounded_traceback(text: str) -> str:
    """``text`` if it fits :data:`MAX_TRACEBACK_BYTES` (UTF-8), else its last bytes after a
    line saying how much was cut (the end names the exception: the part worth keeping)."""
    data = text.encode()
    if len(data) <= MAX_TRACEBACK_BYTES:
        return text
    keep = MAX_TRACEBACK_BYTES - 64  # the marker line is shorter than 64 bytes
    marker = f"[traceback cut: first {len(data) - keep} bytes]\n"
    return marker + data[-keep:].decode(errors="ignore")


def details_to_json(
    parent_id: str | None,
    children: tuple[str, ...],
    traceback: str | None,
    more_children: int = 0,
) -> str | None:
    """The stored form (None: nothing to store); ``more_children``: ids already left out."""
    out: dict[str, Any] = {}
    if parent_id is not None:
        out["parent_id"] = parent_id
    if children:
        out["children"] = list(children[:MAX_CHILDREN])
    more = more_children + max(len(children) - MAX_CHILDREN, 0)
    if more:
        out["more_children"] = more
    if traceback is not None:
        out["traceback"] = bounded_traceback(traceback)
    return json.dumps(out, separators=(",", ":")) if out else None


Details = tuple[str | None, tuple[str, ...], str | None, int]


def details_from_json(raw: str | bytes | None) -> Details:
    """(parent_id, children, traceback, more_children) of the stored form; DecodeError if
    it is not one."""
    if raw is None:
        return None, (), None, 0
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise DecodeError(f"status details: not JSON: {e}") from None
    if not isinstance(value, dict):
        raise DecodeError("status details: expected an object")
    parent, children, traceback, more = (
        value.get("parent_id"),
        value.get("children", []),
        value.get("traceback"),
        value.get("more_children", 0),
    )
    if not (
        (parent is None or isinstance(parent, str))
        and isinstance(children, list)
        and all(isinstance(c, str) for c in children)
        and (traceback is None or isinstance(traceback, str))
        and type(more) is int
        and more >= 0
    ):
        raise DecodeError(
            "status details: parent_id, children, traceback or more_children of the wrong type"
        )
    return parent, tuple(children), traceback, more
