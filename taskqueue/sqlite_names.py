"""The names in the SQLite queue file: tables, columns, message states and schema version.

One definition, used by the SQLAlchemy tables of :mod:`taskqueue.sqlite_schema` and by the
read-only fast path of :mod:`taskqueue.sqlite_read`. Standard library only: the read-only CLI
commands import this without paying for SQLAlchemy.
"""

from __future__ import annotations

from typing import Final

# Bumped when the tables change incompatibly; stored in PRAGMA user_version.
SCHEMA_VERSION: Final = 1

# The states of a message row (see taskqueue.sqlite_schema).
READY: Final = "ready"
DELAYED: Final = "delayed"
IN_FLIGHT: Final = "in_flight"


class Messages:
    TABLE: Final = "messages"
    SEQ: Final = "seq"
    MESSAGE_ID: Final = "message_id"
    QUEUE: Final = "queue"
    PRIORITY: Final = "priority"
    STATE: Final = "state"
    READY_AT_S: Final = "ready_at_s"
    DUE_S: Final = "due_s"
    TOKEN: Final = "token"
    CONSUMER: Final = "consumer"
    PAYLOAD: Final = "payload"
    DELIVERIES: Final = "deliveries"


class Dedupe:
    TABLE: Final = "dedupe"
    MESSAGE_ID: Final = "message_id"
    EXPIRES_S: Final = "expires_s"


class Queues:
    TABLE: Final = "queues"
    NAME: Final = "name"
    CREATED_S: Final = "created_s"


class DeadLetters:
    TABLE: Final = "dead_letters"
    SEQ: Final = "seq"
    MESSAGE_ID: Final = "message_id"
    QUEUE: Final = "queue"
    PAYLOAD: Final = "payload"
    REASON: Final = "reason"
    AT_S: Final = "at_s"


class Consumers:
    TABLE: Final = "consumers"
    NAME: Final = "name"
    QUEUES: Final = "queues"  # JSON list of queue names
    EXPIRES_S: Final = "expires_s"


class Statuses:
    TABLE: Final = "statuses"
    TASK_ID: Final = "task_id"
    TASK: Final = "task"
    STATE: Final = "state"
    ATTEMPTS: Final = "attempts"
    RESULT: Final = "result"  # JSON
    ERROR: Final = "error"
    STARTED_AT_S: Final = "started_at_s"
    FINISHED_AT_S: Final = "finished_at_s"
    EXPIRES_S: Final = "expires_s"
    DELIVERIES: Final = "deliveries"
    DETAILS: Final = "details"  # JSON (taskqueue.status_details), NULL: none


class Leases:
    """Leader leases (made on first use by the broker's lease methods)."""

    TABLE: Final = "leases"
    NAME: Final = "name"
    OWNER: Final = "owner"  # NULL once released
    TOKEN: Final = "token"
    EXPIRES_S: Final = "expires_s"
