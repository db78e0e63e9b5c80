"""An :class:`Entry` back to its YAML form (``beat entries export``, the SQL source's rows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from beat.config.keys import OPTION_KEYS
from beat.entries import Entry, Overlap, Schedule
from beat.time.bounds import Bounded
from beat.time.durations import format_calendar_step, format_duration
from beat.time.schedules import Calendar, Cron, Interval, Once
from beat.time.solar import Solar


def entry_to_mapping(entry: Entry) -> dict[str, Any]:
    """The YAML form of ``entry`` with every setting explicit (defaults filled in): read back
    by :func:`beat.config.validate_entry` it gives an equal entry (same content hash)."""
    out: dict[str, Any] = {"task": entry.task}
    out.update(_schedule_mapping(entry.schedule))
    out["timezone"] = entry.schedule.zone.key
    out["queue"] = entry.queue
    if entry.args:
        out["args"] = list(entry.args)
    if entry.kwargs:
        out["kwargs"] = dict(entry.kwargs)
    options = {
        name: format_duration(value) if isinstance(value, timedelta) else value
        for name in OPTION_KEYS
        if (value := getattr(entry.options, name)) is not None
    }
    if options:
        out["options"] = options
    out["catch_up"] = entry.catch_up.value
    out["grace"] = format_duration(entry.grace)
    if entry.jitter:
        out["jitter"] = format_duration(entry.jitter)
    out["enabled"] = entry.enabled
    # run policies: written only when set, so exports of entries without them are unchanged
    if entry.overlap is not Overlap.ALLOW:
        out["overlap"] = entry.overlap.value
    if entry.pause_on_failure:
        out["pause_on_failure"] = True
    return out


def _schedule_mapping(schedule: Schedule) -> dict[str, Any]:
    if isinstance(schedule, Bounded):
        return _bounded_mapping(schedule)
    if isinstance(schedule, Solar):
        return {"solar": {"event": schedule.event, "lat": schedule.lat, "lon": schedule.lon}}
    if isinstance(schedule, Cron):
        return {"cron": schedule.expr}
    if isinstance(schedule, Interval):
        out: dict[str, Any] = {"every": format_duration(schedule.every)}
        if schedule.start is not None:
            out["start"] = schedule.start.isoformat()
        return out
    if isinstance(schedule, Calendar):
        return {
            "calendar": {
                "every": format_calendar_step(schedule.every, schedule.unit),
                "at": schedule.at.isoformat(
                    timespec="seconds" if schedule.at.second else "minutes"
                ),
                "start": schedule.start.isoformat(),
            }
        }
    if isinstance(schedule, Once):
        return {"at": schedule.at.isoformat()}
    raise TypeError(f"unknown schedule type {type(schedule).__name__}")


def _bounded_mapping(schedule: Bounded) -> dict[str, Any]:
    """The wrapped schedule's keys plus ``start``/``end`` (an interval's own ``start``, its
    anchor, is the inner schedule's)."""
    out = _schedule_mapping(schedule.inner)
    if schedule.start is not None:
        out["start"] = schedule.start.isoformat()
    if schedule.end is not None:
        out["end"] = schedule.end.isoformat()
    return out
