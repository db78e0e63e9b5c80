"""Moving entries between a ``schedules.yaml`` and the SQL source (import and export).

Import keeps each entry's meaning: when the file's ``timezone`` or ``defaults`` differ from the
source's, the file's value is written into each entry that relied on it. Export writes the
source's ``timezone``/``defaults`` and every entry as stored, so export then import into an
empty source gives back the same rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from beat.config.top import load_config
from beat.errors import ConfigError, Problem
from daemonkit.yaml_tree import load_yaml


def read_entries_yaml(
    source: str | Path, *, zone: ZoneInfo, defaults: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The ``entries:`` of a schedules.yaml (a path, or YAML text), as plain mappings with the
    file's differing zone/defaults made explicit. Raises ConfigError (with line numbers) when
    the file is not a valid configuration."""
    path, text = _path_and_text(source)
    if path is None:
        # load_config reads files: check the text through a temporary one, named in messages.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.yaml"
            path.write_text(text, encoding="utf-8")
            _check(path, label="<input>")
    else:
        _check(path, label=None)
    data = load_yaml(text) or {}  # already checked by load_config: bounded, valid
    raw_entries = data.get("entries") or {}
    file_zone = str(data.get("timezone") or "UTC")
    file_defaults = data.get("defaults") or {}
    out: dict[str, dict[str, Any]] = {}
    for name, raw in raw_entries.items():
        entry = dict(raw)
        if "timezone" not in entry and file_zone != zone.key:
            entry["timezone"] = file_zone
        _materialize_defaults(entry, file_defaults, defaults)
        out[str(name)] = entry
    return out


def _materialize_defaults(
    entry: dict[str, Any], file_defaults: Mapping[str, Any], ours: Mapping[str, Any]
) -> None:
    for key, value in file_defaults.items():
        if key == "options":
            mine = _yaml_form(ours.get("options") or {})
            options = dict(entry.get("options") or {})
            for opt, opt_value in (value or {}).items():
                if opt not in options and mine.get(opt) != opt_value:
                    options[opt] = opt_value
            if options:
                entry["options"] = options
        elif key not in entry and _yaml_form(ours.get(key)) != value:
            entry[key] = value


def _check(path: Path, *, label: str | None) -> None:
    try:
        load_config(path)
    except ConfigError as e:
        if label is None:
            raise
        raise ConfigError([Problem(label, p.line, p.path, p.message) for p in e.problems]) from None


def _path_and_text(source: str | Path) -> tuple[Path | None, str]:
    if isinstance(source, Path) or ("\n" not in source and os.path.isfile(source)):
        path = Path(source)
        try:
            return path, path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError([Problem(str(path), None, "", f"cannot read: {e}")]) from e
    return None, source


def _yaml_form(value: Any) -> Any:
    """Defaults as YAML would spell them (durations compact), for comparison and export."""
    if isinstance(value, timedelta):
        from beat.time.durations import format_duration

        return format_duration(value)
    if isinstance(value, str):
        return str(value)  # a StrEnum (catch_up) as its plain value
    if isinstance(value, Mapping):
        return {k: _yaml_form(v) for k, v in value.items()}
    return value


def dump_entries_yaml(
    entries: Mapping[str, Mapping[str, Any]], *, zone: ZoneInfo, defaults: Mapping[str, Any]
) -> str:
    """A schedules.yaml holding ``entries`` with the source's zone and defaults."""
    doc: dict[str, Any] = {"timezone": zone.key}
    if defaults:
        doc["defaults"] = _yaml_form(dict(defaults))
    doc["entries"] = {name: dict(mapping) for name, mapping in entries.items()}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True)
