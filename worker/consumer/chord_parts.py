"""A chord member's end: its value counted in the broker, the body sent by the last one.

The broker records the member's value and counts the members in one atomic step
(:meth:`~taskqueue.broker.ChordParts.chord_part`), so of two members finishing at the same
instant on two workers exactly one sees the chord complete; a redelivered member (its worker
died before settling) sees it complete again, and the body's deterministic id
(``<chord id>:callback`` unless its signature has a task_id) makes the second send a no-op.

A member that failed fails the chord: the body is recorded FAILURE (``ChordError``) and its
``link_error`` runs with (body id, error), as Celery's chord error.
"""

from __future__ import annotations

import logging
from typing import Any

from taskqueue.broker import Broker
from taskqueue.errors import DecodeError
from worker.consumer.callback_sends import fail_downstream, record_failure, send_signature
from worker.lineage import Lineage

logger = logging.getLogger(__name__)


def member_done(
    broker: Broker, member: Lineage, chord: dict[str, Any], result: Any, error: str | None
) -> None:
    """Record member ``chord["index"]``'s outcome; send the body if it completes the chord
    (the body's parent: the member that completed it)."""
    member_id = member.parent_id
    body = chord["callback"]
    body_id = str(body.get("options", {}).get("task_id") or f"{chord['id']}:callback")
    value = {"ok": result} if error is None else {"error": error, "id": member_id}
    try:
        parts = broker.chord_part(chord["id"], chord["index"], chord["size"], value)
    except DecodeError as e:
        reason = f"ChordError: {e}"
        logger.error("chord %s: %s", chord["id"], reason)
        record_failure(broker, body_id, str(body.get("task")), reason)
        return
    if parts is None:
        return
    failed = [p for p in parts if not isinstance(p, dict) or "ok" not in p]
    if not failed:
        send_signature(broker, body, ([p["ok"] for p in parts],), body_id, member)
        return
    first = failed[0] if isinstance(failed[0], dict) else {"error": repr(failed[0]), "id": "?"}
    reason = f"ChordError: member {first.get('id')} failed: {first.get('error')}"
    record_failure(broker, body_id, str(body.get("task")), reason)
    options = body.get("options", {})
    for i, errback in enumerate(options.get("link_error", [])):
        send_signature(broker, errback, (body_id, reason), f"{body_id}:link_error:{i}", member)
    for nested in options.get("link", []):
        fail_downstream(broker, nested, reason)
