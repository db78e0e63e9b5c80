"""Sending a settled task's callbacks: ``link`` on SUCCESS, ``link_error`` on a final failure.

Called by the settler BEFORE the parent's settlement is applied, each callback under a
deterministic id (its signature's ``task_id``, else ``<parent id>:link:<i>`` or
``<parent id>:link_error:<i>``) through ``enqueue_once``: a worker that dies between the two
steps leaves the parent unsettled, the parent is redelivered and run again, and the same ids are
refused the second time. Nothing is lost and nothing runs twice.

A callback that cannot be sent (bad options, too large) is recorded as FAILURE under its id
with the reason, and the parent still settles. When a parent fails, the steps of its chain
that would have followed (links with a fixed task id) are recorded FAILURE too, so that
``chain(...).get()`` raises instead of waiting forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from taskqueue.broker import Broker, TaskState
from taskqueue.callbacks_wire import Callbacks, callback_id
from taskqueue.message import Message, decode_payload
from worker.consumer.callback_sends import fail_downstream, send_signature, storable
from worker.consumer.chord_parts import member_done
from worker.consumer.outcomes import Pending
from worker.lineage import Lineage, of_message

logger = logging.getLogger(__name__)

_FAILED = frozenset([TaskState.FAILURE, TaskState.DEAD, TaskState.EXPIRED])
_MARK = b'"callbacks":'  # a payload without it has none: no second decode


def send_callbacks(broker: Broker, pending: Sequence[Pending]) -> None:
    """Send the callbacks of every final outcome in ``pending`` that has some."""
    for p in pending:
        status = p.settlement.status
        payload = p.settlement.delivery.payload
        if status is None or _MARK not in payload:
            continue
        message = decode_payload(payload)
        if not isinstance(message, Message) or not message.callbacks:
            continue
        parent = of_message(message)
        if status.state is TaskState.SUCCESS:
            _on_success(broker, parent, message.callbacks, status.result)
        elif status.state in _FAILED:
            _on_failure(broker, parent, message.callbacks, status.error or status.state.value)


def _on_success(broker: Broker, parent: Lineage, callbacks: Callbacks, result: Any) -> None:
    arg, parent_id = storable(result), parent.parent_id
    for i, raw in enumerate(callbacks.link):
        send_signature(broker, raw, (arg,), callback_id(parent_id, "link", i, raw), parent)
    if callbacks.chord is not None:
        member_done(broker, parent, callbacks.chord, arg, None)


def _on_failure(broker: Broker, parent: Lineage, callbacks: Callbacks, error: str) -> None:
    parent_id = parent.parent_id
    for i, raw in enumerate(callbacks.link_error):
        errback_id = callback_id(parent_id, "link_error", i, raw)
        send_signature(broker, raw, (parent_id, error), errback_id, parent)
    reason = f"ChainBroken: {parent_id} failed: {error}"
    for raw in callbacks.link:
        fail_downstream(broker, raw, reason)
    if callbacks.chord is not None:
        member_done(broker, parent, callbacks.chord, None, error)
