"""The few keys of ``schedules.yaml`` the worker reads: ``broker``, ``imports``, ``worker:``,
``routes:`` (for the callbacks it sends and the calls its tasks make).

The worker never imports :mod:`beat` (the two packages only share :mod:`taskqueue`), so the
``worker:`` section is parsed by :mod:`taskqueue.worker_settings`, the parser ``beat check``
uses too. Other top-level keys belong to beat and are ignored here; unknown keys inside
``worker:`` are errors with a suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from daemonkit.yaml_input import read_yaml_bytes
from daemonkit.yaml_tree import YamlLimitExceeded, YamlProblems, load_yaml

# One duration syntax for beat and worker (taskqueue is the package both import).
from taskqueue.durations import parse_duration
from taskqueue.routes import Route, parse_routes
from taskqueue.worker_settings import WorkerSection, parse_worker_section

__all__ = ["SettingsError", "WorkerSettings", "load_settings", "parse_duration"]


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
    section: WorkerSection = field(default_factory=WorkerSection)
    path: Path | None = None
    routes: list[Route] = field(default_factory=list)

    @property
    def worker(self) -> dict[str, Any]:
        """The ``worker:`` settings the file sets, parsed, by key."""
        return self.section.given()


def load_settings(path: Path) -> WorkerSettings:
    """Read ``path``; raises :class:`SettingsError` listing every problem."""
    where = str(path)
    raw = _read(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError([f"{where}: expected a mapping at the top level"])
    problems: list[str] = []
    broker = raw.get("broker")
    if broker is not None and not isinstance(broker, str):
        problems.append(f"{where}: broker: expected a URL string")
        broker = None
    imports = _imports(raw.get("imports", []))
    if imports is None:
        problems.append(f"{where}: imports: expected a list of module names")
    section, section_problems = parse_worker_section(raw.get("worker"))
    problems.extend(f"{where}: {p.path}: {p.message}" for p in section_problems)
    routes: list[Route] = []
    try:
        routes = parse_routes(raw.get("routes"))
    except ValueError as e:
        problems.append(f"{where}: {e}")
    if problems:
        raise SettingsError(problems)
    return WorkerSettings(
        broker=broker, imports=imports or [], section=section, path=path, routes=routes
    )


def _read(path: Path) -> Any:
    """The document at ``path``; SettingsError when it cannot be read or parsed."""
    where = str(path)
    # The same bounded loader as beat's: a small file of nested aliases cannot hang a worker.
    try:
        return load_yaml(read_yaml_bytes(path).decode("utf-8-sig"))
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


def _imports(value: Any) -> list[str] | None:
    """``imports:`` as a list of module names (one name may stand alone); None if invalid."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        return list(value)
    return None
