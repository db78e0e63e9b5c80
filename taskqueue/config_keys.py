"""Keys and defaults of ``schedules.yaml`` that beat and the worker both read, in one place.

The worker reads the ``worker:`` section itself and ``beat check`` validates it too, both with
:mod:`taskqueue.worker_settings`; beat and worker never import each other, so the key list, the
command rules and the default broker live here, in the package both import, and the two can
never disagree on them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

WORKER_KEYS = (
    "queues",
    "concurrency",
    "pool",
    "lease",
    "shutdown_timeout",
    "max_tasks_per_child",
    "max_memory_per_child",
    "max_deliveries",
    "name",
    "loglevel",
    "log_format",
    "metrics_port",
    "commands",
    "command_env",
    "result_expires",
)

# The SQLite queue next to the configuration file (see default_broker_url).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
DEFAULT_QUEUE_FILE = "queue.db"
# Where every command and the calling API look for the configuration: $BEAT_CONFIG, else
# this file in the current directory.
CONFIG_ENV = "BEAT_CONFIG"
DEFAULT_CONFIG_FILE = "schedules.yaml"

# An environment variable name a ``command`` message may set (POSIX portable names).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def command_setting_problems(key: str, value: object) -> list[tuple[str, str]]:
    """``(field, problem)`` for each thing wrong with ``worker.commands`` (a list of absolute,
    normalised program paths) or ``worker.command_env`` (a list of environment variable names).

    The single rule for both ``beat check`` and the worker, which each add their own file and
    line to the problems.
    """
    where = f"worker.{key}"
    what = "absolute program paths" if key == "commands" else "environment variable names"
    if not isinstance(value, list | tuple):
        return [(where, f"expected a list of {what}, got {type(value).__name__}")]
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        field = f"{where}[{index}]"
        if not isinstance(item, str):
            problems.append((field, f"expected a string, got {type(item).__name__}"))
        elif key == "commands" and not (
            posixpath.isabs(item) and posixpath.normpath(item) == item and "\0" not in item
        ):
            # Exact string comparison decides what may run: only one spelling per program.
            problems.append(
                (field, f"expected an absolute, normalised path like /usr/bin/df, got {item!r}")
            )
        elif key == "command_env" and not _ENV_NAME.fullmatch(item):
            problems.append((field, f"expected an environment variable name, got {item!r}"))
    return problems


def default_broker_url(config_path: Path | None) -> str:
    """The broker when the configuration names none: ``sqlite:///<config dir>/queue.db`` (or
    the current directory without a configuration file). Beat and the worker both use it, so
    they meet on the same queue."""
    base = config_path.resolve().parent if config_path is not None else Path.cwd()
    return f"sqlite:///{base / DEFAULT_QUEUE_FILE}"


def parse_loglevel(value: object) -> str:
    """A log level in lower case; raises ValueError with the message (beat's own ``beat:``
    section uses it too)."""
    if isinstance(value, str) and value.lower() in LOG_LEVELS:
        return value.lower()
    from taskqueue.config_text import describe  # only an error needs it

    raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {describe(value)}")
