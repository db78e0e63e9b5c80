"""The keys ``schedules.yaml`` may hold, one list per place, each written once.

The worker's keys live in :mod:`taskqueue.config_keys` (the worker reads them too and never
imports beat); the SQL source's columns are :data:`ENTRY_KEYS` (beat/sources/sql/schema.py).
"""

from __future__ import annotations

from taskqueue.config_keys import LOG_FORMATS, LOG_LEVELS, WORKER_KEYS

__all__ = [
    "BEAT_KEYS",
    "CALENDAR_KEYS",
    "DEFAULT_KEYS",
    "ENTRY_KEYS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "OPTION_DURATIONS",
    "OPTION_KEYS",
    "SCHEDULE_KINDS",
    "SOLAR_KEYS",
    "TOP_KEYS",
    "WEB_KEYS",
    "WORKER_KEYS",
]

TOP_KEYS = (
    "timezone",
    "broker",
    "imports",
    "source",
    "defaults",
    "entries",
    "worker",
    "beat",
    "metrics_port",
    "log_format",
    "routes",
    "web",
)
SCHEDULE_KINDS = ("cron", "every", "calendar", "at", "solar")
# The keys of one entry, in the order `beat entries export` writes them (and the SQL source's
# columns after `name`).
ENTRY_KEYS = (
    "task",
    "cron",
    "every",
    "start",
    "end",
    "calendar",
    "at",
    "solar",
    "timezone",
    "queue",
    "args",
    "kwargs",
    "options",
    "catch_up",
    "grace",
    "jitter",
    "enabled",
    # run policies
    "overlap",
    "pause_on_failure",
)
DEFAULT_KEYS = ("queue", "catch_up", "grace", "options", "jitter", "overlap")
OPTION_KEYS = (
    "priority",
    "expires",
    "soft_time_limit",
    "time_limit",
    "max_retries",
    "retry_backoff",
    "retry_backoff_max",
)
OPTION_DURATIONS = frozenset(
    ("expires", "soft_time_limit", "time_limit", "retry_backoff", "retry_backoff_max")
)
CALENDAR_KEYS = ("every", "at", "start")
SOLAR_KEYS = ("event", "lat", "lon")
BEAT_KEYS = ("state", "lookahead", "leader_lease", "loglevel")
WEB_KEYS = ("host", "port", "read_only", "token", "users")
