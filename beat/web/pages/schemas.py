"""The JSON schemas of the pages' answers (the OpenAPI document's ``200`` responses), each
written as one compact declaration (:func:`obj`)."""

from __future__ import annotations

from typing import Any

TYPES = ("string", "integer", "number", "boolean", "object", "array")


def obj(required: str, fields: str = "", **more: dict[str, Any]) -> dict[str, Any]:
    """An object schema: ``required`` the space-separated keys it must have; ``fields`` its
    properties as ``name:type`` words (a type of :data:`TYPES`; ``type?`` also allows null);
    ``more`` the properties whose schema is not a plain type (arrays of objects, enums)."""
    properties: dict[str, Any] = {}
    for word in fields.split():
        name, _, kind = word.partition(":")
        nullable = kind.endswith("?")
        kind = kind.removesuffix("?")
        if kind not in TYPES:
            raise ValueError(f"schema field {word!r}: type {kind!r} is not one of {TYPES}")
        properties[name] = {"type": [kind, "null"] if nullable else kind}
    return {"type": "object", "required": required.split(), "properties": {**properties, **more}}


def array(items: dict[str, Any] | str = "object") -> dict[str, Any]:
    """An array of ``items`` (a schema, or the name of a plain type)."""
    return {"type": "array", "items": {"type": items} if isinstance(items, str) else items}


ROW = obj(
    "name task schedule timezone queue enabled next_fire",
    "name:string task:string schedule:string timezone:string queue:string enabled:boolean "
    "last_fire:string? next_fire:string? next_note:string? overdue:boolean "
    "last_outcome:string? source:string",
)
ENTRIES = obj(
    "total offset limit entries", "total:integer offset:integer limit:integer", entries=array(ROW)
)

FIRE = obj(
    "fire_id scheduled_for outcome state runtime_s",
    "fire_id:string scheduled_for:string outcome:string sent_at:string? skipped:string? "
    "by:string? state:string? started_at:string? finished_at:string? runtime_s:number? "
    "error:string?",
)
ENTRY = obj(
    "name next dst_changes history",
    "name:string last:object?",
    next=array(),
    dst_changes=array(),
    history=array(FIRE),
)
ENTRY_HISTORY = obj("entry fires", "entry:string", fires=array(FIRE))

PAUSED = obj("entry since note", "entry:string since:string note:string")
# The fires the beat will send; the paused entries (none of their fires shown) beside them.
TIMELINE = obj("start end fires more paused", "more:boolean", fires=array(), paused=array(PAUSED))
QUEUES = obj("queues", queues=array())
DEPTHS = ("t", "ready", "delayed", "in_flight", "dead")
QUEUE_DEPTH = obj(" ".join(DEPTHS), "", **{k: array("number") for k in DEPTHS})
DEAD = obj("dead_letters", dead_letters=array())

RUNNING = obj("id task started_at", "id:string task:string started_at:string?")
WORKER = obj(
    "name state last_seen",
    "name:string last_seen:string? problem:string? host:string pid:integer pool:string "
    "concurrency:integer",
    state={"enum": ["live", "missed"]},
    queues=array("string"),
    tasks=array(RUNNING),
)
WORKERS = obj("workers", workers=array(WORKER))

LEADER = obj("broker leader", "leader:object? broker:string")
TASK = obj(
    "id state attempts",
    "id:string task:string? state:string attempts:integer traceback:string? parent_id:string?"
    " more_children:integer",
    children=array("string"),
)
