"""Sending one callback, or recording that it cannot run: shared by the callbacks of a task
(:mod:`worker.consumer.callbacks`) and of a chord (:mod:`worker.consumer.chord_parts`)."""

from __future__ import annotations

import json
import logging
from typing import Any

from taskqueue.broker import Broker, TaskState, TaskStatus
from taskqueue.errors import MessageTooLarge
from worker.canvas import Signature
from worker.lineage import Lineage

logger = logging.getLogger("worker.consumer.callbacks")


def send_signature(
    broker: Broker,
    raw: dict[str, Any],
    args: tuple[Any, ...],
    default_id: str,
    parent: Lineage | None = None,
) -> None:
    """Send the wire signature ``raw`` with ``args`` prepended, once (enqueue-once by its
    id: its own task_id, else ``default_id``), as a child of ``parent``; record FAILURE under
    that id if it cannot be."""
    callback_id = default_id
    try:
        signature = Signature.from_wire(raw)
        callback_id = signature.id or default_id
        message = signature.clone(args).message(callback_id, parent)
        message.encode()  # too large: refused here, not by the broker
    except (TypeError, ValueError, MessageTooLarge) as e:
        reason = f"CallbackError: cannot send {raw.get('task')!r}: {e}"
        logger.error("callback %s: %s", callback_id, reason)
        record_failure(broker, callback_id, str(raw.get("task")), reason)
        return
    if broker.enqueue_once(message):
        logger.info("sent callback %s[%s]", message.task, message.id)


def fail_downstream(broker: Broker, raw: dict[str, Any], reason: str) -> None:
    """Record FAILURE for a link that will not run (and its own links), when it has an id."""
    options = raw.get("options", {})
    task_id = options.get("task_id")
    if isinstance(task_id, str) and task_id:
        record_failure(broker, task_id, str(raw.get("task")), reason)
    for nested in options.get("link", []):
        fail_downstream(broker, nested, reason)


def record_failure(broker: Broker, task_id: str, task: str, reason: str) -> None:
    """Record FAILURE for a task that will not run (a callback that cannot)."""
    broker.set_status(
        TaskStatus(id=task_id, task=task, state=TaskState.FAILURE, attempts=0, error=reason)
    )


def storable(result: Any) -> Any:
    """The result as the callback's argument: itself if JSON, else its repr (as stored)."""
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return repr(result)
    return result
