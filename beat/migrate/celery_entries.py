"""A Celery ``beat_schedule`` as ``schedules.yaml`` entries, or why each part cannot be.

Every entry is mapped to the YAML form of an entry, then validated by the one entry validator
(:func:`beat.config.validate_entry`) and written back by :func:`entry_to_mapping`, so what is
written is what ``beat check`` reads; a problem the validator finds refuses that entry too.
Each refusal names the file, line, entry, field and why. Choices (also in README):

* ``relative=True`` is refused: Celery then rounds each fire to the interval's unit, which an
  ``every:`` (fixed period from a phase) does not reproduce for every interval.
* ``priority``: Celery's order depends on its broker (0 runs first on Redis, 9 first on
  RabbitMQ); ours is 9 first. It is mapped from the module's ``broker_url`` (or
  ``--celery-broker``), and refused when neither says which.
* An entry name beat does not allow (spaces) is renamed, with a note.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beat.config import validate_entry
from beat.config.checker import NAME
from beat.config.keys import SCHEDULE_KINDS
from beat.config.serialise import entry_to_mapping
from beat.errors import ConfigError
from beat.migrate.celery_cron import CronRefused, crontab_to_cron
from beat.migrate.celery_source import CelerySettings, SourceProblem
from beat.migrate.celery_values import (
    CrontabCall,
    IntervalCall,
    NotLiteral,
    SolarCall,
    evaluate,
)

__all__ = ["Imported", "Refusal", "import_schedule"]

_ENTRY_KEYS = ("task", "schedule", "args", "kwargs", "options", "relative")
_DURATION_OPTIONS = ("expires", "soft_time_limit", "time_limit")
_ROUTING = ("routing_key", "exchange", "exchange_type")
# Celery's broker URL schemes by which priority runs first.
_ZERO_FIRST = ("redis", "rediss", "sentinel", "redis+socket")
_NINE_FIRST = ("amqp", "amqps", "pyamqp", "librabbitmq")


class Refused(Exception):
    """One part of an entry that cannot be mapped."""

    def __init__(self, field: str, why: str, line: int | None = None) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why
        self.line = line


@dataclass(frozen=True)
class Refusal:
    file: str
    line: int | None
    entry: str
    field: str
    why: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: entry {self.entry!r}: {self.field}: {self.why}"


@dataclass
class Imported:
    timezone: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def import_schedule(
    settings: CelerySettings, *, timezone: str | None = None, broker: str | None = None
) -> Imported:
    """The entries of ``settings``' ``beat_schedule``. Raises SourceProblem when there is no
    schedule or no zone to read it in (nothing could be mapped right)."""
    file = str(settings.path)
    zone = _zone(settings, timezone)
    out = Imported(timezone=zone.key)
    for line, name in settings.ignored:
        out.notes.append(f"{file}:{line}: {name} set inside a block (if/try/def/with) is not read")
    node = settings.values.get("beat_schedule")
    if node is None:
        raise SourceProblem(f"{file}: no beat_schedule (or CELERYBEAT_SCHEDULE) at module level")
    items = _string_keyed(node)
    if items is None:
        raise SourceProblem(
            f"{file}:{node.lineno}: beat_schedule is not a dict literal with string keys"
        )
    order = broker or _priority_order(settings)
    for key, value in items:
        _import_entry(out, settings, zone, order, key, value)
    return out


def _string_keyed(node: ast.expr) -> list[tuple[str, ast.expr]] | None:
    """The items of a dict literal whose keys are all string literals, else None."""
    if not isinstance(node, ast.Dict):
        return None
    items = []
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None
        items.append((key.value, value))
    return items


def _zone(settings: CelerySettings, override: str | None) -> ZoneInfo:
    file = str(settings.path)
    name = override
    if name is None and "timezone" in settings.values:
        node = settings.values["timezone"]
        name = _literal(settings, node)
        if not isinstance(name, str):
            raise SourceProblem(f"{file}:{node.lineno}: timezone: expected a zone name literal")
    if name is None:
        utc = (
            _literal(settings, settings.values["enable_utc"])
            if "enable_utc" in settings.values
            else True
        )
        if utc is False:
            raise SourceProblem(
                f"{file}: enable_utc = False without timezone: Celery uses the host's zone, "
                "which beat never does; pass --timezone ZONE"
            )
        name = "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise SourceProblem(f"{file}: timezone: unknown zone {name!r}") from e


def _literal(settings: CelerySettings, node: ast.expr) -> Any:
    try:
        return evaluate(node, settings.imports)
    except NotLiteral as e:
        raise SourceProblem(f"{settings.path}: {e}") from e


def _priority_order(settings: CelerySettings) -> str | None:
    node = settings.values.get("broker_url")
    try:
        url = evaluate(node, settings.imports) if node is not None else None
    except NotLiteral:
        return None
    scheme = url.partition("://")[0].lower() if isinstance(url, str) else ""
    if scheme in _ZERO_FIRST:
        return "redis"
    return "amqp" if scheme in _NINE_FIRST else None


def _import_entry(
    out: Imported,
    settings: CelerySettings,
    zone: ZoneInfo,
    order: str | None,
    celery_name: str,
    node: ast.expr,
) -> None:
    file = str(settings.path)
    name = _beat_name(celery_name)
    if name != celery_name:
        out.notes.append(f"{file}:{node.lineno}: entry {celery_name!r} renamed {name!r}")
    if name in out.entries:
        out.refusals.append(
            Refusal(file, node.lineno, celery_name, "name", f"{name!r} is already taken")
        )
        return
    try:
        mapping = _entry_mapping(node, settings, order)
        entry = validate_entry(name, mapping, zone=zone, defaults={}, file=file)
    except Refused as e:
        out.refusals.append(Refusal(file, e.line or node.lineno, celery_name, e.field, e.why))
        return
    except ConfigError as e:
        prefix = f"entries.{name}."
        for p in e.problems:
            where = p.path.removeprefix(prefix)
            out.refusals.append(Refusal(file, node.lineno, celery_name, where, p.message))
        return
    out.entries[name] = _compact(entry_to_mapping(entry), zone)


def _beat_name(name: str) -> str:
    if NAME.fullmatch(name):
        return name
    return re.sub(r"[^A-Za-z0-9_.:@-]+", "-", name).strip("-")[:200] or "entry"


def _entry_mapping(node: ast.expr, settings: CelerySettings, order: str | None) -> dict[str, Any]:
    """The YAML form of one Celery entry; raises Refused."""
    items = _string_keyed(node)
    if items is None:
        raise Refused("entry", "not a dict literal with string keys", node.lineno)
    values: dict[str, Any] = {}
    for key, value in items:
        if key not in _ENTRY_KEYS:
            raise Refused(key, "not a Celery entry field beat knows", value.lineno)
        try:
            values[key] = evaluate(value, settings.imports)
        except NotLiteral as e:
            raise Refused(key, e.why, e.line) from None
    if "schedule" not in values:
        raise Refused("schedule", "missing", node.lineno)
    if values.get("relative"):
        raise Refused("relative", _RELATIVE_WHY, node.lineno)
    mapping: dict[str, Any] = {"task": values.get("task")}
    mapping.update(_schedule(values["schedule"]))
    for key in ("args", "kwargs"):
        if key in values:
            mapping[key] = _json_form(values[key])
    mapping.update(_options(values.get("options", {}), order))
    return mapping


_RELATIVE_WHY = (
    "relative=True rounds each fire to the interval's unit in Celery, which every: does "
    "not reproduce; drop it (or write cron: for fires on the unit)"
)


def _schedule(value: Any) -> dict[str, Any]:
    if isinstance(value, CrontabCall):
        try:
            return {"cron": crontab_to_cron(value.fields)}
        except CronRefused as e:
            raise Refused(f"schedule.{e.field}", e.why, value.line) from None
    if isinstance(value, SolarCall):
        if "solar" not in SCHEDULE_KINDS:
            raise Refused("schedule", "solar(): this beat has no solar: schedule", value.line)
        return {"solar": {"event": value.event, "lat": value.lat, "lon": value.lon}}
    if isinstance(value, IntervalCall):
        if value.relative:
            raise Refused("schedule.relative", _RELATIVE_WHY, value.line)
        return {"every": _seconds("schedule.run_every", value.run_every)}
    return {"every": _seconds("schedule", value)}


def _seconds(where: str, value: Any) -> Any:
    """A number of seconds (Celery's plain numbers and timedeltas) as the validator reads it."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(where, f"expected seconds or a timedelta, got {value!r}")
    return int(value) if float(value).is_integer() else value


def _options(options: Any, order: str | None) -> dict[str, Any]:
    """``queue:`` and ``options:`` from Celery's ``options`` dict; raises Refused."""
    if not isinstance(options, Mapping):
        raise Refused("options", f"expected a dict, got {options!r}")
    out: dict[str, Any] = {}
    mapped: dict[str, Any] = {}
    for key, value in options.items():
        where = f"options.{key}"
        if key == "queue":
            out["queue"] = value
        elif key == "priority":
            mapped["priority"] = _priority(value, order)
        elif key in _DURATION_OPTIONS:
            mapped[key] = _seconds(where, value)
        elif key in _ROUTING:
            raise Refused(where, "AMQP routing: beat sends to a queue by name (use queue)")
        else:
            raise Refused(where, "no equivalent in beat's entry options")
    if mapped:
        out["options"] = mapped
    return out


def _priority(value: Any, order: str | None) -> Any:
    if order is None:
        raise Refused(
            "options.priority",
            "Celery runs 0 first on Redis and 9 first on RabbitMQ, and the module names "
            "neither broker: pass --celery-broker redis|amqp",
        )
    if order == "redis" and isinstance(value, int) and not isinstance(value, bool):
        return 9 - value  # ours: 9 first
    return value


def _json_form(value: Any) -> Any:
    """Tuples as lists (YAML and JSON have no tuple); the validator checks the rest."""
    if isinstance(value, tuple | list):
        return [_json_form(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_form(v) for k, v in value.items()}
    return value


def _compact(mapping: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """``mapping`` without the settings every imported entry has by default (their zone is
    the file's; queue, catch-up, grace and enabled are beat's defaults)."""
    baseline = entry_to_mapping(
        validate_entry("x", {"task": "x", "every": 1}, zone=zone, defaults={})
    )
    return {
        key: value
        for key, value in mapping.items()
        if key not in ("timezone", "queue", "catch_up", "grace", "enabled")
        or baseline.get(key) != value
    }


def schedules_yaml(imported: Imported, source: str) -> str:
    """The schedules.yaml text of ``imported`` (YAML written as ``beat entries export``
    writes it: block style, keys in the validator's order)."""
    import yaml

    doc = {"timezone": imported.timezone, "entries": imported.entries}
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True)
    return f"# Imported from {source} by `beat import-celery`.\n{body}"
