"""The validated configuration: what :func:`beat.config.load_config` returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from beat.entries import Entry
from beat.time import zones
from taskqueue.routes import Route

# Work done once the beat is ready, given the entries it runs (the start-up cache's write: the
# dict the loader built is handed over to the roster by then).
ReadyHook = Callable[[Mapping[str, Entry]], None]

UTC_ZONE = zones.get("UTC")


@dataclass(frozen=True, slots=True)
class Config:
    """A validated ``schedules.yaml``."""

    path: Path  # resolved
    timezone: ZoneInfo = UTC_ZONE
    broker_url: str = ""
    imports: tuple[str, ...] = ()
    source: str = "yaml"  # "yaml" or a database URL (the SQL schedule source)
    # Validated `defaults:` (durations as timedelta); accepted back by validate_entry.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)  # in file order
    # `routes:` in file order; already applied to the entries (beat.config.entry).
    routes: tuple[Route, ...] = ()
    worker: Mapping[str, Any] = field(default_factory=dict)  # raw `worker:` (checked)
    beat: Mapping[str, Any] = field(default_factory=dict)  # `beat:`, durations as timedelta
    metrics_port: int | None = None
    log_format: str = "text"
    # `web:` (beat web): host, port, read_only, and token/users when set
    web: Mapping[str, Any] = field(default_factory=dict)
