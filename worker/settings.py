"""The few keys of ``schedules.yaml`` the worker reads: ``broker``, ``imports``, ``worker:``.

The worker never imports :mod:`beat` (the two packages only share :mod:`taskqueue`), so it
parses these keys itself. Other top-level keys belong to beat and are ignored here; unknown keys
inside ``worker:`` are errors with a suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from daemonkit.yaml_tree import YamlLimitExceeded, YamlProblems, load_yaml, read_yaml_bytes

# One duration syntax for beat and worker (taskqueue is the package both import).
from taskqueue.config_keys import WORKER_KEYS, command_setting_problems
from taskqueue.durations import parse_duration


class SettingsError(ValueError):
    """Problems found in the configuration; one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True)
class WorkerSettings:
    """What the worker takes from the configuration file (command-line options win)."""

    broker: str | None = None
    imports: list[str] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def load_settings(path: Path) -> WorkerSettings:
    """Read ``path``; raises :class:`SettingsError` listing every problem."""
    where = str(path)
    # The same bounded loader as beat's: a small file of nested aliases cannot hang a worker.
    try:
        raw = load_yaml(read_yaml_bytes(path).decode("utf-8-sig"))
    except OSError as e:
        raise SettingsError([f"{where}: cannot read: {e.strerror or e}"]) from e
    except UnicodeDecodeError as e:
        raise SettingsError([f"{where}: not UTF-8 text (byte {e.start})"]) from e
    except YamlLimitExceeded as e:
        raise SettingsError([f"{where}: {e.message}"]) from e
    except YamlProblems as e:
        raise SettingsError([f"{where}: {problem}" for problem in e.problems]) from e
    except yaml.YAMLError as e:
        raise SettingsError([f"{where}: malformed YAML: {e}".replace("\n", " ")]) from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError([f"{where}: expected a mapping at the top level"])
    problems: list[str] = []
    settings = WorkerSettings(path=path)
    broker = raw.get("broker")
    if broker is not None and not isinstance(broker, str):
        problems.append(f"{where}: broker: expected a URL string")
    else:
        settings.broker = broker
    imports = raw.get("imports", [])
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, list) or not all(isinstance(m, str) for m in imports):
        problems.append(f"{where}: imports: expected a list of module names")
    else:
        settings.imports = list(imports)
    section = raw.get("worker", {}) or {}
    if not isinstance(section, dict):
        problems.append(f"{where}: worker: expected a mapping")
        section = {}
    for key in section:
        if key not in WORKER_KEYS:
            close = difflib.get_close_matches(str(key), WORKER_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{where}: worker: unknown key {key!r}{hint}")
    for key in ("lease", "shutdown_timeout"):
        if key in section:
            try:
                section[key] = parse_duration(section[key], f"{where}: worker.{key}")
            except ValueError as e:
                problems.append(str(e))
    for key in ("concurrency", "max_tasks_per_child", "max_memory_per_child"):
        value = section.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            problems.append(f"{where}: worker.{key}: expected a positive integer, got {value!r}")
    for key in ("commands", "command_env"):
        if section.get(key) is not None:
            problems.extend(
                f"{where}: {field}: {problem}"
                for field, problem in command_setting_problems(key, section[key])
            )
    if "pool" in section and section["pool"] not in ("prefork", "threads"):
        problems.append(
            f"{where}: worker.pool: expected 'prefork' or 'threads', got {section['pool']!r}"
        )
    queues = section.get("queues")
    if isinstance(queues, str):
        section["queues"] = [q.strip() for q in queues.split(",") if q.strip()]
    elif queues is not None and not (
        isinstance(queues, list) and all(isinstance(q, str) for q in queues)
    ):
        problems.append(f"{where}: worker.queues: expected a list of queue names")
    if problems:
        raise SettingsError(problems)
    settings.worker = dict(section)
    return settings
