"""Worker heartbeat records: what a live worker publishes about itself (``beat workers``).

A worker publishes a :class:`WorkerRecord` at its heartbeat interval; the broker stores it as
JSON with the instant it was last seen and when it counts as missed (both by the broker's
clock). A record read back is untrusted: :func:`parse_worker_record` names the field that is
wrong, and the broker turns that into a :class:`WorkerSeen` with a ``problem`` instead of
failing the listing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

# A worker that stopped beating stays listed (marked missed) this long, then is dropped.
MISSED_KEPT = timedelta(hours=1)
# A record larger than this is not read (garbage, or a worker running thousands of tasks).
MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class RunningTask:
    """One task a worker runs now."""

    id: str
    task: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """What a worker says about itself in each heartbeat."""

    name: str
    host: str
    pid: int
    version: str
    queues: tuple[str, ...]
    pool: str
    concurrency: int
    started_at: datetime
    tasks: tuple[RunningTask, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["tasks"] = [
            {"id": t.id, "task": t.task, "started_at": t.started_at.isoformat()} for t in self.tasks
        ]
        return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class WorkerSeen:
    """A worker as the broker saw it: its record (None if the stored one is garbage, then
    ``problem`` says why), when it last beat, and whether it is live (its heartbeat has not
    run out) or missed (it stopped beating without a clean stop: killed, hung, cut off)."""

    name: str
    record: WorkerRecord | None
    last_seen: datetime | None
    expires_at: datetime | None
    live: bool
    problem: str | None = None


def _field(data: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}: field {name!r} is {value!r}, not a {kind.__name__}")
    return value


def _instant(data: dict[str, Any], name: str, where: str) -> datetime:
    text = _field(data, name, str, where)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: field {name!r} is {text!r}, not an ISO instant") from None
    if value.tzinfo is None:
        raise ValueError(f"{where}: field {name!r} is {text!r}, without a UTC offset")
    return value


def _tasks(data: dict[str, Any], where: str) -> tuple[RunningTask, ...]:
    items = _field(data, "tasks", list, where)
    tasks = []
    for i, item in enumerate(items):
        at = f"{where}: tasks[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at} is {item!r}, not an object")
        tasks.append(
            RunningTask(
                _field(item, "id", str, at),
                _field(item, "task", str, at),
                _instant(item, "started_at", at),
            )
        )
    return tuple(tasks)


def parse_worker_record(name: str, raw: bytes | str) -> WorkerRecord:
    """The record stored for worker ``name``; ValueError naming the field if it is garbage."""
    where = f"worker {name!r}: heartbeat record"
    if len(raw) > MAX_RECORD_BYTES:
        raise ValueError(f"{where}: {len(raw)} bytes, more than {MAX_RECORD_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"{where}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: not a JSON object")
    worker_name = _field(data, "name", str, where)
    queues = _field(data, "queues", list, where)
    if not all(isinstance(q, str) for q in queues):
        raise ValueError(f"{where}: field 'queues' is {queues!r}, not a list of names")
    return WorkerRecord(
        name=worker_name,
        host=_field(data, "host", str, where),
        pid=_field(data, "pid", int, where),
        version=_field(data, "version", str, where),
        queues=tuple(queues),
        pool=_field(data, "pool", str, where),
        concurrency=_field(data, "concurrency", int, where),
        started_at=_instant(data, "started_at", where),
        tasks=_tasks(data, where),
    )


def seen(
    name: str, raw: bytes | str | None, last_seen: datetime, expires_at: datetime, now: datetime
) -> WorkerSeen:
    """One listing row from what the broker stored (``raw`` None: no record was stored)."""
    live = now < expires_at
    if raw is None:
        return WorkerSeen(name, None, last_seen, expires_at, live, "no heartbeat record stored")
    try:
        record = parse_worker_record(name, raw)
    except ValueError as e:
        return WorkerSeen(name, None, last_seen, expires_at, live, str(e))
    return WorkerSeen(name, record, last_seen, expires_at, live)
