"""Task statuses on Redis: one HASH per task id, expiring a lifetime after a final state.

Kept lazily: enqueue writes no status (it would double the writes of a beat burst).
``get_status`` of an id with no status record looks the message up in the known queues and
reports it QUEUED; workers record every later state (claim_many.lua writes STARTED, settle.lua
the outcome). A status left from an earlier message with the same id (sent again after its
dedupe window) shows until the worker records anew.

A final status also pushes a token on the task's done list (``keys.done``); ``wait_done``
BLPOPs it, so ``TaskResult.get`` sleeps in Redis instead of polling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta

import redis

from taskqueue.errors import DecodeError
from taskqueue.keys import DONE_TTL_MS
from taskqueue.message import Message
from taskqueue.records import DEFAULT_RESULT_TTL, FINAL_STATES, TaskState, TaskStatus
from taskqueue.redis import wire
from taskqueue.redis.connection import RedisConnection
from taskqueue.status_details import details_from_json


def status_fields(status: TaskStatus) -> dict[str, str | int]:
    """The status hash of ``status`` (raises TypeError/ValueError if the result is not JSON)."""
    fields: dict[str, str | int] = {
        "task": status.task,
        "state": TaskState(status.state).value,
        "attempts": status.attempts,
        "result": json.dumps(status.result, allow_nan=False),
    }
    if status.error is not None:
        fields["error"] = status.error
    if status.started_at is not None:
        fields["started_at_ms"] = wire.ms(status.started_at)
    if status.finished_at is not None:
        fields["finished_at_ms"] = wire.ms(status.finished_at)
    if status.deliveries:
        fields["deliveries"] = status.deliveries
    details = status.details_json()
    if details is not None:
        fields["details"] = details
    return fields


class RedisStates(RedisConnection):
    """:class:`~taskqueue.broker.TaskStates` on Redis."""

    def set_status(self, status: TaskStatus, ttl: timedelta = DEFAULT_RESULT_TTL) -> None:
        """Record a task's state; kept ``ttl`` after a final state.

        Raises TypeError/ValueError, before writing anything, if the result is not JSON.
        """
        fields = status_fields(status)
        key = self.keys.status(status.id)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(key)  # fields of an earlier state (an old error) must not linger
            pipe.hset(key, mapping=fields)
            if status.state in FINAL_STATES:
                pipe.pexpire(key, wire.keep_ms(status.kept(ttl)))
                done = self.keys.done(status.id)
                pipe.delete(done)  # at most one token, as settle.lua keeps it
                pipe.rpush(done, b"1")
                pipe.pexpire(done, DONE_TTL_MS)
            pipe.execute()

    def wait_done(
        self, task_id: str, timeout: timedelta, poll_interval: timedelta
    ) -> TaskStatus | None:
        """Block until ``task_id`` reaches a final state or ``timeout`` passes (at most the
        longest block this connection allows: the caller checks and waits again); the status
        hash read right after (None: none yet; no QUEUED lookup, see :meth:`get_status`).

        A BLPOP on the task's done list, never a poll (``poll_interval`` is SQLite's), with
        the HGETALL sent behind it: Redis runs it the moment the BLPOP returns, so waking up
        and reading the result is one round trip. A token pushed before the wait began is
        still there, so a task that ended between the caller's read and this call returns at
        once. A ``timeout`` under 1 ms only reads (BLPOP's 0 would block forever).
        """
        del poll_interval
        wait_s = min(timeout.total_seconds(), self._max_block_s)
        read = ("HGETALL", self.keys.status(task_id))
        commands = [read] if wait_s < 0.001 else [("BLPOP", self.keys.done(task_id), wait_s), read]
        with self._errors():
            replies = self._send_all(iter(commands))[1]
            for reply in replies:
                if isinstance(reply, redis.ResponseError):
                    raise reply
        raw = replies[-1]
        # RESP2 answers a flat list of field, value; RESP3 a map.
        fields = raw if isinstance(raw, dict) else dict(zip(raw[0::2], raw[1::2], strict=True))
        return _status(task_id, fields) if fields else None

    def forget(self, task_id: str) -> None:
        """Delete what is known of ``task_id`` (its status and done token)."""
        with self._errors():
            self._client.delete(self.keys.status(task_id), self.keys.done(task_id))

    def get_status(self, task_id: str) -> TaskStatus | None:
        """What is known of ``task_id``; QUEUED if only its message is known; None if never
        seen (or expired)."""
        with self._errors():
            raw = self._client.hgetall(self.keys.status(task_id))
        if not raw:
            return self._queued_status(task_id)
        return _status(task_id, raw)

    def get_statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus | None]:
        """:meth:`get_status` of every id: one pipeline for the status hashes, one more for the
        ids without one (their messages, in every known queue)."""
        if not task_ids:
            return {}
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for task_id in task_ids:
                pipe.hgetall(self.keys.status(task_id))
            hashes = pipe.execute()
        out: dict[str, TaskStatus | None] = {}
        missing = []
        for task_id, raw in zip(task_ids, hashes, strict=True):
            if raw:
                out[task_id] = _status(task_id, raw)
            else:
                missing.append(task_id)
        names = self._queue_names() if missing else []
        if not names:
            return out | dict.fromkeys(missing)
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for task_id in missing:
                for name in names:
                    pipe.hget(self.keys.queue(name).msg, task_id)
            values = iter(pipe.execute())
        for task_id in missing:
            found = [v for v in (next(values) for _ in names) if v is not None]
            out[task_id] = _queued(task_id, found[0]) if found else None
        return out

    def _queued_status(self, task_id: str) -> TaskStatus | None:
        names = self._queue_names()
        if not names:
            return None
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hget(self.keys.queue(name).msg, task_id)
            values = pipe.execute()
        for value in values:
            if value is not None:
                return _queued(task_id, value)
        return None


def _queued(task_id: str, value: bytes) -> TaskStatus:
    """QUEUED, from the stored message of a task that has no status record yet."""
    try:
        message = Message.decode(value.split(b":", 1)[1])  # after "<p><ttl ms>:"
    except (DecodeError, RecursionError):  # RecursionError: JSON nested too deeply
        return TaskStatus(id=task_id, task="", state=TaskState.QUEUED, attempts=0)
    return TaskStatus(
        id=task_id, task=message.task, state=TaskState.QUEUED, attempts=message.attempt
    )


def _status(task_id: str, raw: Mapping[bytes, bytes]) -> TaskStatus:
    """A status hash as the :class:`TaskStatus` it records."""
    f = {k.decode(): v.decode() for k, v in raw.items()}
    parent_id, children, traceback, more_children = details_from_json(f.get("details"))
    return TaskStatus(
        id=task_id,
        task=f["task"],
        state=TaskState(f["state"]),
        attempts=int(f["attempts"]),
        result=json.loads(f["result"]),
        error=f.get("error"),
        started_at=wire.instant(int(f["started_at_ms"])) if "started_at_ms" in f else None,
        finished_at=wire.instant(int(f["finished_at_ms"])) if "finished_at_ms" in f else None,
        deliveries=int(f.get("deliveries", 0)),
        parent_id=parent_id,
        children=children,
        more_children=more_children,
        traceback=traceback,
    )
