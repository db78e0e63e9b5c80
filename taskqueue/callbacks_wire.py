"""What runs after a task: its ``link``/``link_error`` signatures and its chord part.

Carried in the message under the optional ``callbacks`` field (absent: none, so messages
without callbacks keep their exact old bytes). A signature on the wire is a JSON object
``{"task": name, "args": [...], "kwargs": {...}, "options": {...}}``; ``options`` may nest
``link``/``link_error`` lists (a chain). Only the shape is checked here (the wire never
imports the worker); the worker reads the options when it sends a callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskqueue.errors import DecodeError

__all__ = [
    "Callbacks",
    "callback_id",
    "callbacks_from_wire",
    "callbacks_to_wire",
    "check_signature",
]

_SIGNATURE_KEYS = frozenset(["task", "args", "kwargs", "options"])
_CHORD_KEYS = frozenset(["id", "index", "size", "callback"])


@dataclass(frozen=True, slots=True)
class Callbacks:
    """``link`` runs on SUCCESS (the result prepended to its args), ``link_error`` on a final
    failure (called with the parent id and the error text), ``chord`` names the chord this
    task is member ``index`` of (``{"id", "index", "size", "callback"}``)."""

    link: tuple[dict[str, Any], ...] = ()
    link_error: tuple[dict[str, Any], ...] = ()
    chord: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return bool(self.link or self.link_error or self.chord)


NO_CALLBACKS = Callbacks()


def callback_id(parent_id: str, kind: str, index: int, raw: dict[str, Any]) -> str:
    """The id callback ``raw`` is sent under: its own ``task_id``, else derived from its
    parent (``<parent>:link:0``, ``<parent>:link_error:1``), so a resend is refused."""
    own = raw.get("options", {}).get("task_id")
    return own if isinstance(own, str) and own else f"{parent_id}:{kind}:{index}"


def callbacks_to_wire(c: Callbacks) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.link:
        out["link"] = list(c.link)
    if c.link_error:
        out["link_error"] = list(c.link_error)
    if c.chord is not None:
        out["chord"] = c.chord
    return out


def callbacks_from_wire(raw: Any) -> Callbacks:
    """The ``callbacks`` field of a wire message; DecodeError naming what is wrong."""
    if raw is None:
        return NO_CALLBACKS
    if not isinstance(raw, dict):
        raise DecodeError(f"callbacks: expected an object, got {type(raw).__name__}")
    unknown = set(raw) - {"link", "link_error", "chord"}
    if unknown:
        raise DecodeError(f"callbacks: unknown fields {sorted(unknown)}")
    chord = raw.get("chord")
    if chord is not None:
        _check_chord(chord)
    return Callbacks(
        link=_signatures(raw.get("link", []), "callbacks.link"),
        link_error=_signatures(raw.get("link_error", []), "callbacks.link_error"),
        chord=chord,
    )


def _signatures(raw: Any, what: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list):
        raise DecodeError(f"{what}: expected a list, got {type(raw).__name__}")
    return tuple(check_signature(s, f"{what}[{i}]") for i, s in enumerate(raw))


def check_signature(raw: Any, what: str) -> dict[str, Any]:
    """``raw`` if it is a signature object (nested link lists included); else DecodeError."""
    if not isinstance(raw, dict):
        raise DecodeError(f"{what}: expected a signature object, got {type(raw).__name__}")
    unknown = set(raw) - _SIGNATURE_KEYS
    if unknown:
        raise DecodeError(f"{what}: unknown fields {sorted(unknown)}")
    task = raw.get("task")
    if not isinstance(task, str) or not task:
        raise DecodeError(f"{what}.task: expected a task name")
    for key, kind in (("args", list), ("kwargs", dict), ("options", dict)):
        if not isinstance(raw.get(key, kind()), kind):
            raise DecodeError(f"{what}.{key}: expected {kind.__name__}")
    options = raw.get("options", {})
    for key in ("link", "link_error"):
        if key in options:
            _signatures(options[key], f"{what}.options.{key}")
    return raw


def _check_chord(raw: Any) -> None:
    if not isinstance(raw, dict) or set(raw) != _CHORD_KEYS:
        raise DecodeError(f"callbacks.chord: expected an object with {sorted(_CHORD_KEYS)}")
    if not isinstance(raw["id"], str) or not raw["id"]:
        raise DecodeError("callbacks.chord.id: expected a non-empty string")
    for key in ("index", "size"):
        if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0:
            raise DecodeError(f"callbacks.chord.{key}: expected a non-negative integer")
    if raw["index"] >= raw["size"]:
        raise DecodeError("callbacks.chord.index: not below callbacks.chord.size")
    check_signature(raw["callback"], "callbacks.chord.callback")
