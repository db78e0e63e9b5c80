"""``schedules.yaml`` -> a :class:`Config`: the top level (zone, broker, source, imports,
``beat:``, ...), each entry handed to :mod:`beat.config.entry`, the ``worker:`` section to
:mod:`beat.config.worker_section`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beat.config.broker_section import check_broker_url, optional_url, top_mapping
from beat.config.checker import Checker
from beat.config.entry import SpecCache, check_defaults, check_entry
from beat.config.entry_stream import INVALID, EntryStream, all_streamed, streamed
from beat.config.keys import BEAT_KEYS, LOG_FORMATS, TOP_KEYS
from beat.config.model import UTC_ZONE, Config, ReadyHook
from beat.config.routes_section import check_routes
from beat.config.web_section import check_web_section
from beat.config.worker_section import check_worker_section
from beat.config.yaml_reading import UNREADABLE, read_tree
from beat.entries import Entry
from beat.errors import ConfigError, Problem
from beat.memory import gc_paused
from daemonkit.yaml_input import MAX_YAML_BYTES
from taskqueue.config_keys import default_broker_url, parse_loglevel
from taskqueue.config_text import describe
from taskqueue.routes import Route

# Compiled by re on first use (its cache): only a config with `imports:` checks module names.
_MODULE = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"


def load_config(
    path: Path,
    cache: Path | None = None,
    later: list[ReadyHook] | None = None,
) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem.
    ``cache``, ``later``: see :func:`read_config`."""
    config, problems = read_config(path, cache, later)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def read_config(
    path: Path,
    cache: Path | None = None,
    later: list[ReadyHook] | None = None,
) -> tuple[Config | None, list[Problem]]:
    """Read and validate ``path``: the configuration built from what is valid (None when the
    file cannot be read or parsed), and every problem, in file order. ``cache``: the daemon's
    start-up cache (:mod:`beat.config.startup_cache`), used when it holds this very file, and
    written after a load with no problems: then, or by the callable appended to ``later``
    (the daemon calls it once it is ready)."""
    with gc_paused():  # a million objects for 100,000 entries, all kept (beat.memory)
        if cache is None:
            return _read(path)[:2]
        return _read_cached(path, cache, later)


def _read_cached(
    path: Path, cache: Path, later: list[ReadyHook] | None
) -> tuple[Config | None, list[Problem]]:
    from beat.cache.files import read_source
    from beat.config import startup_cache

    source = read_source(path, MAX_YAML_BYTES)
    if source is None:
        return _read(path)[:2]  # the cold read says what is wrong
    key, data = source
    found = startup_cache.load(cache, key)
    if found is not None:
        top, entries, hashes = found
        checker = Checker(str(path))
        # Entries of one setting share its mapping: SpecCache keys each mapping once.
        config = _build(path, {**top, "entries": entries}, checker, shared=True)
        if config is not None and not checker.problems and startup_cache.verified(config, hashes):
            return config, []
        startup_cache.log.warning(
            "start-up cache %s: ignored, it does not give the entries it was written for: "
            "reading the config file",
            cache,
        )
    config, problems, root = _read(path, data)  # the bytes the key was made from
    if config is not None and not problems and isinstance(root, Mapping):
        store = startup_cache.storer(cache, key, root)
        if later is None:
            store(config.entries)
        else:
            later.append(store)
    return config, problems


def _read(path: Path, data: bytes | None = None) -> tuple[Config | None, list[Problem], Any]:
    """``path`` read and checked (``data``: its bytes, already read)."""
    checker = Checker(str(path))
    first = EntryStream(str(path))
    stream: EntryStream | None = first
    root = read_tree(path, checker, ("entries", first), data)
    if root is UNREADABLE:
        return None, checker.problems, None
    if isinstance(root, Mapping) and stream is not None and not stream.valid_for(root):
        # `timezone:` or `defaults:` came after `entries:`: read again, the ordinary way.
        root = stream = None
        checker = Checker(str(path))
        root = read_tree(path, checker, data=data)
    config = _build(path, root, checker)
    if stream is not None:
        checker.problems.extend(stream.checker.problems)
    return config, sorted(checker.problems, key=lambda p: p.line or 0), root


def _build(path: Path, root: Any, checker: Checker, shared: bool = False) -> Config | None:
    root = top_mapping(checker, root)
    if root is None:
        return None
    checker.unknown_keys(root, TOP_KEYS, "")
    resolved = path.resolve()
    zone = UTC_ZONE
    if root.get("timezone") is not None:
        zone = checker.zone(root, "timezone", "") or zone
    broker_url = check_broker_url(checker, root)
    source = _source(checker, root)
    imports = _imports(checker, root)
    defaults = check_defaults(checker, root.get("defaults"), checker.line_of(root, "defaults"))
    metrics_port, log_format = _logs_and_metrics(checker, root)
    worker = check_worker_section(checker, root)
    beat = _beat_section(checker, root)
    routes = check_routes(checker, root)
    web = check_web_section(checker, root)
    return Config(
        path=resolved,
        timezone=zone,
        broker_url=broker_url or default_broker_url(resolved),
        imports=imports,
        source=source,
        defaults=defaults,
        entries=_entries(checker, root, zone, defaults, routes, SpecCache(shared)),
        routes=routes,
        worker=worker,
        beat=beat,
        metrics_port=metrics_port,
        log_format=log_format,
        web=web,
    )


def _entries(
    checker: Checker,
    root: Mapping[Any, Any],
    zone: Any,
    defaults: Mapping[str, Any],
    routes: tuple[Route, ...],
    cache: SpecCache,
) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    section = checker.mapping(
        root.get("entries"), checker.line_of(root, "entries"), "entries", "entry names to entries"
    )
    if all_streamed(section.values()):  # the usual file: in C, not an entry at a time
        return {entry.name: entry for entry in section.values() if entry is not INVALID}
    for name, data in section.items():
        if streamed(data):  # checked while the file was read (beat.config.entry_stream)
            if data is not INVALID:
                entries[data.name] = data
            continue
        line = checker.line_of(section, name)
        entry = check_entry(
            checker, name, data, line, zone, defaults, "yaml", routes=routes, cache=cache
        )
        if entry is not None:
            entries[entry.name] = entry
    return entries


def _source(checker: Checker, root: Mapping[Any, Any]) -> str:
    if root.get("source") in (None, "yaml"):
        return "yaml"
    what = "'yaml' or a database URL like postgresql://user@host/db"
    return optional_url(checker, root, "source", what) or "yaml"


def _imports(checker: Checker, root: Mapping[Any, Any]) -> tuple[str, ...]:
    value = root.get("imports")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    line = checker.line_of(root, "imports")
    if not isinstance(value, list | tuple):
        checker.report(line, "imports", f"expected a list of module names, got {describe(value)}")
        return ()
    good: list[str] = []
    for index, module in enumerate(value):
        if isinstance(module, str) and re.fullmatch(_MODULE, module):
            good.append(module)
        else:
            checker.report(
                line,
                f"imports[{index}]",
                f"expected a module name like myapp.tasks, got {describe(module)}",
            )
    return tuple(good)


def _logs_and_metrics(checker: Checker, root: Mapping[Any, Any]) -> tuple[int | None, str]:
    metrics_port = None
    if root.get("metrics_port") is not None:
        metrics_port = checker.integer(root, "metrics_port", "", 1, 65535)
    log_format = "text"
    if root.get("log_format") is not None:
        log_format = checker.choice(root, "log_format", "", LOG_FORMATS) or log_format
    return metrics_port, log_format


def _beat_section(checker: Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    section = checker.mapping(
        root.get("beat"), checker.line_of(root, "beat"), "beat", "beat settings"
    )
    checker.unknown_keys(section, BEAT_KEYS, "beat")
    out: dict[str, Any] = {}
    if "state" in section and (
        state := checker.string(section, "state", "beat", "a state file or database URL")
    ):
        out["state"] = state
    if "lookahead" in section:
        lookahead = checker.duration(section, "lookahead", "beat", allow_zero=True)
        if lookahead is not None:
            out["lookahead"] = lookahead
    if "leader_lease" in section and (lease := checker.duration(section, "leader_lease", "beat")):
        out["leader_lease"] = lease
    if "loglevel" in section:
        try:
            out["loglevel"] = parse_loglevel(section["loglevel"])
        except ValueError as e:  # the worker's rule: one list of levels for both daemons
            checker.report(checker.line_of(section, "loglevel"), "beat.loglevel", str(e))
    return out
