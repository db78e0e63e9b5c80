"""Text and JSON output of the CLI commands (pure: data in, string out)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from beat.views.records import leader_data, queue_data, status_data

if TYPE_CHECKING:
    from beat.cli.cached import Readable
    from beat.config.model import Config
    from beat.entries import Schedule
    from beat.state_rows import EntryState, Pause
    from beat.views.broker import LeaderView
    from taskqueue.records import LeaseHolder, QueueStats, TaskStatus


def _local(instant: datetime, schedule: Schedule) -> datetime:
    return instant.astimezone(schedule.zone)


def render_next(
    schedule: Schedule,
    fires: Sequence[datetime],
    *,
    as_json: bool,
    since: datetime | None = None,
    jitter: tuple[str, timedelta] | None = None,
) -> str:
    """``beat next``: JSON instants with the zone's offset, or local time, UTC and notes (DST
    edges, days without a solar event after ``since`` or the previous fire, and the send time
    of an entry with ``jitter``: its name and jitter)."""
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
        if jitter is not None and jitter[1]:
            line += f"   {_jittered(jitter[0], fire, jitter[1])}"
        note = dst_note(schedule, fire) or _missing_days_note(schedule, since, fire)
        if note:
            line += f"   note: {note}"
        lines.append(line)
        since = fire
    return "\n".join(lines)


def _missing_days_note(schedule: Schedule, since: datetime | None, fire: datetime) -> str | None:
    # A solar schedule was built by beat.time.solar, so without that module loaded there is
    # none, and `beat next --cron` does not load it (a dataclass compiled at import) to say so.
    solar = sys.modules.get("beat.time.solar")
    return None if solar is None else solar.missing_days_note(schedule, since, fire)


def _jittered(name: str, fire: datetime, jitter: timedelta) -> str:
    """The send time of a fire of an entry with ``jitter`` (its id is the nominal instant's)."""
    from beat.time.jitter import jitter_delay
    from taskqueue.message import fire_id

    delay = jitter_delay(fire_id(name, fire), jitter)
    sent = fire.astimezone(UTC) + delay
    ms = delay // timedelta(milliseconds=1)
    return f"sent {sent:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" UTC (jitter +{ms / 1000:.3f}s)"


def render_list(
    config: Config | Readable,
    states: Mapping[str, EntryState],
    now: datetime,
    *,
    as_json: bool,
    leader: LeaderView | None = None,
    pauses: Mapping[str, Pause] | None = None,
) -> str:
    """``beat list``: every entry with its schedule, zone, queue, last and next fire, and its
    pause; in text, a last line on who leads (the JSON stays a list of entries)."""
    from beat.views.entries import entry_row

    rows = [
        entry_row(entry, states.get(name), now, (pauses or {}).get(name))
        for name, entry in config.entries.items()
    ]
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
    if row["finished"]:
        return "finished"
    if row["next_send"] != row["next_fire"]:
        return f"{row['next_fire']} (sent {row['next_send']})"
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


# Compiled by re on first use (its cache): only `beat config` redacts.
_SECRET_KEY = r"(?i)pass(word|wd)?|secret|token|api[_-]?key|credential"


def redact(value: Any, key: str = "") -> Any:
    """Replace secrets: values under secret-looking keys, and passwords inside URLs."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and re.search(_SECRET_KEY, key) and value not in (None, ""):
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
        # the users' hashes are not secrets, but nobody needs to read them here
        "web": {k: ({u: "***" for u in v} if k == "users" else v) for k, v in config.web.items()},
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
    rows = [queue_data(s) for s in stats]
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "no queues yet"
    header = ("QUEUE", "READY", "DELAYED", "IN FLIGHT", "DEAD", "CONSUMERS", "EXPIRED LEASE")
    return render_table(header, [tuple(str(v) for v in r.values()) for r in rows])


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    table = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def render_status(task_id: str, status: TaskStatus | None, *, as_json: bool) -> str:
    data = status_data(task_id, status)
    if as_json:
        return json.dumps(data, indent=2, default=str)
    if status is None:
        return f"{task_id}: unknown (never seen, or its record expired)"
    tb = data.pop("traceback")
    if not data["more_children"]:  # shown only when some ids were left out
        del data["more_children"]
    lines = [f"{k}: {v}" for k, v in data.items() if v is not None and v != []]
    if tb is not None:
        lines.append("traceback:\n" + tb.rstrip("\n"))
    return "\n".join(lines)
