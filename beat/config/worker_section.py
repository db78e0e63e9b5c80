"""The ``worker:`` section as beat sees it: checked (so ``beat check`` catches its mistakes)
and kept as written, since the worker reads it itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beat.config.checker import Checker, NotJSON, kind, plain
from beat.config.keys import LOG_FORMATS, LOG_LEVELS, WORKER_KEYS
from taskqueue.config_keys import command_setting_problems


def check_worker_section(checker: Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    """The ``worker:`` section as written (the worker parses it itself), checked here too so
    that ``beat check`` catches its mistakes; rules match :mod:`worker.settings`."""
    section = checker.mapping(
        root.get("worker"), checker.line_of(root, "worker"), "worker", "worker settings"
    )
    checker.unknown_keys(section, WORKER_KEYS, "worker")
    for key in ("lease", "shutdown_timeout"):
        if key in section:
            checker.duration(section, key, "worker")
    for key in ("concurrency", "max_tasks_per_child", "max_memory_per_child"):
        if section.get(key) is not None:
            checker.integer(section, key, "worker", 1)
    if section.get("metrics_port") is not None:
        checker.integer(section, "metrics_port", "worker", 0, 65535)
    if "pool" in section:
        checker.choice(section, "pool", "worker", ("prefork", "threads"))
    for key in ("commands", "command_env"):
        if section.get(key) is not None:
            for field, problem in command_setting_problems(key, section[key]):
                checker.report(checker.line_of(section, key), field, problem)
    if "loglevel" in section:
        check_loglevel(checker, section, "worker")
    if "log_format" in section:
        checker.choice(section, "log_format", "worker", LOG_FORMATS)
    if "name" in section:
        checker.string(section, "name", "worker", "a worker name")
    queues = section.get("queues")
    if (
        queues is not None
        and not isinstance(queues, str)
        and not (isinstance(queues, list | tuple) and all(isinstance(q, str) for q in queues))
    ):
        checker.report(
            checker.line_of(section, "queues"),
            "worker.queues",
            f"expected a list of queue names, got {kind(queues)}",
        )
    try:
        copied: dict[str, Any] = plain(
            {k: v for k, v in section.items() if k in WORKER_KEYS}, "worker"
        )
    except NotJSON as e:
        checker.report(checker.line_of(section), e.where, e.message)
        return {}
    return copied


def check_loglevel(checker: Checker, section: Mapping[Any, Any], path: str) -> str | None:
    value = section["loglevel"]
    if isinstance(value, str) and value.lower() in LOG_LEVELS:
        return value.lower()
    checker.report(
        checker.line_of(section, "loglevel"),
        f"{path}.loglevel",
        f"expected one of {', '.join(LOG_LEVELS)}, got {kind(value)}",
    )
    return None
