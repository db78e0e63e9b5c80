"""Text and JSON output of the CLI commands (pure: data in, string out)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beat.config.model import Config
    from beat.entries import Schedule
    from beat.state import EntryState, Pause
    from taskqueue.records import LeaseHolder, QueueStats, TaskStatus

# Who leads, as the CLI found out: the holder (None: no leader), or why it could not tell.
LeaderView = tuple["LeaseHolder | None", "str | None"]


def _local(instant: datetime, schedule: Schedule) -> datetime:
    return instant.astimezone(schedule.zone)


def render_next(schedule: Schedule, fires: Sequence[datetime], *, as_json: bool) -> str:
    """``beat next``: JSON instants with the zone's offset, or local time, UTC and DST notes."""
    if as_json:
        return json.dumps([_local(f, schedule).isoformat() for f in fires])
    from beat.time.dst_notes import dst_note

    lines = [f"{schedule.describe()} in {schedule.zone.key}:"]
    if not fires:
        lines.append("  no further fires")
    for fire in fires:
        local = _local(fire, schedule)
        utc = fire.astimezone(UTC)
        line = (
            f"  {local:%a %Y-%m-%d %H:%M:%S} {local.tzname()} ({local:%z})"
            f"   {utc:%Y-%m-%d %H:%M:%S} UTC"
        )
        note = dst_note(schedule, fire)
        if note:
            line += f"   note: {note}"
        lines.append(line)
    return "\n".join(lines)


def _iso(value: datetime | None, schedule: Schedule | None = None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(schedule.zone) if schedule else value).isoformat()


def render_list(
    config: Config,
    states: Mapping[str, EntryState],
    now: datetime,
    *,
    as_json: bool,
    leader: LeaderView | None = None,
    pauses: Mapping[str, Pause] | None = None,
) -> str:
    """``beat list``: every entry with its schedule, zone, queue, last and next fire, and its
    pause; in text, a last line on who leads (the JSON stays a list of entries)."""
    from beat.planner import first_state, resumed, upcoming

    rows: list[dict[str, Any]] = []
    for name, entry in config.entries.items():
        # What the daemon would hold for it now: the stored state, or a new/edited one.
        state = first_state(entry, now, states.get(name))
        pause = (pauses or {}).get(name)
        if pause is not None and not pause.paused:
            state = resumed(state, pause.since)  # as the daemon does (beat.roster.set_pauses)
        paused = pause is not None and pause.paused
        nxt = next(upcoming(entry, state), None) if entry.enabled and not paused else None
        rows.append(
            {
                "name": name,
                "task": entry.task,
                "schedule": entry.schedule.describe(),
                "timezone": entry.schedule.zone.key,
                "queue": entry.queue,
                "enabled": entry.enabled,
                "last_fire": _iso(state.last_fire, entry.schedule),
                "next_fire": _iso(nxt, entry.schedule),
                "overdue": nxt is not None and nxt < now,
                "source": entry.source,
                "paused": (
                    {"since": pause.since.isoformat(), "note": pause.note}
                    if pause is not None and pause.paused
                    else None
                ),
            }
        )
    if as_json:
        return json.dumps(rows, indent=2)
    header = ("NAME", "SCHEDULE", "ZONE", "QUEUE", "LAST FIRE", "NEXT FIRE")
    table = [header] + [
        (
            r["name"],
            r["schedule"],
            r["timezone"],
            r["queue"],
            r["last_fire"] or "-",
            _next_text(r),
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    if leader is not None:
        lines += ["", render_leader(*leader)]
    return "\n".join(lines)


def _next_text(row: Mapping[str, Any]) -> str:
    if not row["enabled"]:
        return "disabled"
    if row["paused"] is not None:
        note = row["paused"]["note"]
        return f"paused since {row['paused']['since']}" + (f": {note}" if note else "")
    if row["next_fire"] is None:
        return "never"
    return f"{row['next_fire']} (overdue)" if row["overdue"] else str(row["next_fire"])


def render_leader(holder: LeaseHolder | None, problem: str | None = None) -> str:
    """The leader line of ``beat list`` / ``beat config``."""
    if problem is not None:
        return f"leader: unknown ({problem})"
    if holder is None:
        return "no leader"
    until = holder.expires_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return f"leader: {holder.owner} (token {holder.token}, lease until {until})"


def leader_data(holder: LeaseHolder | None, problem: str | None = None) -> dict[str, Any] | None:
    """The leader as JSON data (None: no leader)."""
    if problem is not None:
        return {"error": problem}
    if holder is None:
        return None
    return {
        "owner": holder.owner,
        "token": holder.token,
        "lease_until": holder.expires_at.astimezone(UTC).isoformat(),
    }


_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential", re.IGNORECASE)


def redact(value: Any, key: str = "") -> Any:
    """Replace secrets: values under secret-looking keys, and passwords inside URLs."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return "***"
    if isinstance(value, str):
        from taskqueue.redact import redact_text

        return redact_text(value)
    return value


def render_config(config: Config, *, as_json: bool, leader: LeaderView | None = None) -> str:
    """``beat config``: the effective configuration (defaults filled in), secrets redacted,
    and who leads (``leader``, when given)."""
    import dataclasses

    from beat.config.serialise import entry_to_mapping

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if hasattr(value, "total_seconds"):
            from beat.time.durations import format_duration

            return format_duration(value)
        if hasattr(value, "key") and type(value).__name__ == "ZoneInfo":
            return value.key
        return value

    from beat.time.zones import tzdata_version

    data = {
        "config": str(config.path),
        "timezone": config.timezone.key,
        "tzdata": tzdata_version(),
        "broker": config.broker_url,
        "source": config.source,
        "imports": list(config.imports),
        "worker": plain(config.worker),
        "beat": plain(config.beat),
        "metrics_port": config.metrics_port,
        "log_format": config.log_format,
        "entries": {name: entry_to_mapping(e) for name, e in config.entries.items()},
    }
    data = redact(data)
    if leader is not None:
        # After redaction: the fencing "token" is a counter, not a secret.
        data["leader"] = leader_data(*leader)
    if as_json:
        return json.dumps(data, indent=2, default=str)
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False).rstrip()


def render_queues(stats: Sequence[QueueStats], *, as_json: bool) -> str:
    rows = [
        {
            "name": s.name,
            "ready": s.ready,
            "delayed": s.delayed,
            "in_flight": s.in_flight,
            "dead": s.dead,
            "consumers": s.consumers,
            "expired_lease": s.expired_lease,
        }
        for s in stats
    ]
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "no queues yet"
    header = ("QUEUE", "READY", "DELAYED", "IN FLIGHT", "DEAD", "CONSUMERS", "EXPIRED LEASE")
    table = [header] + [tuple(str(v) for v in r.values()) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def render_status(task_id: str, status: TaskStatus | None, *, as_json: bool) -> str:
    if status is None:
        data: dict[str, Any] = {
            "id": task_id,
            "task": None,
            "state": "unknown",
            "attempts": 0,
            "retries": 0,
            "deliveries": 0,
            "result": None,
            "error": None,
            "started_at": None,
            "finished_at": None,
        }
    else:
        data = {
            "id": status.id,
            "task": status.task,
            "state": str(status.state),
            "attempts": status.attempts,
            # Retries: attempts after the first. Deliveries: claims of the current attempt
            # (more than 1: a worker or pool process died under it).
            "retries": max(0, status.attempts - 1),
            "deliveries": status.deliveries,
            "result": status.result,
            "error": status.error,
            "started_at": _iso(status.started_at),
            "finished_at": _iso(status.finished_at),
        }
    if as_json:
        return json.dumps(data, indent=2, default=str)
    if status is None:
        return f"{task_id}: unknown (never seen, or its record expired)"
    lines = [f"{k}: {v}" for k, v in data.items() if v is not None]
    return "\n".join(lines)
